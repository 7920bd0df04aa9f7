//! Translation unit tests: YAML in, typed Envoy configuration out, one feature at a time.

mod ambient;
mod clusters;
mod findings;
mod gateway_api;
mod jwt;
mod routes;
mod sidecars;

use std::path::Path;

use super::*;
use crate::analyze::{Finding, Findings};
use crate::envoy::cluster::Cluster;
use crate::envoy::route::{PathMatch, Route, RouteMatch, RouteTarget, WeightedCluster};
use crate::istio::parse_documents;

/// A Kubernetes Service selecting `app: <name>`, port 8080 (as in networking/).
fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: 8080, targetPort: 8080}}]\n"
    )
}

/// The three Services, the gateway and the scorers' DestinationRules.
fn base() -> String {
    let services = crate::topology::BINARIES.map(service).join("---\n");
    format!("{services}---\n{ROUTING_BASE}")
}

const ROUTING_BASE: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kyc}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: basic}
spec:
  host: kyc-credit-check-basic
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: advanced}
spec:
  host: kyc-credit-check-advanced.default.svc.cluster.local
  subsets: [{name: v2, labels: {version: v2}}]
"#;

const BASIC: &str = "outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local";
const ADVANCED: &str = "outbound|8080|v2|kyc-credit-check-advanced.default.svc.cluster.local";

fn basic() -> ClusterName {
    ClusterName::outbound(
        8080,
        Some("v1"),
        "kyc-credit-check-basic.default.svc.cluster.local",
    )
}

fn advanced() -> ClusterName {
    ClusterName::outbound(
        8080,
        Some("v2"),
        "kyc-credit-check-advanced.default.svc.cluster.local",
    )
}

/// The ingress gateway's configuration and the findings of one translation.
struct Out {
    proxy: ProxyConfig,
    findings: Findings,
}

impl Out {
    fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.errors()
    }

    fn error_texts(&self) -> Vec<String> {
        self.errors().map(|f| f.to_string()).collect()
    }

    /// The routes of the first virtual host.
    fn routes(&self) -> &[Route] {
        &self.proxy.listeners[0].routes.virtual_hosts[0].routes
    }

    fn cluster(&self, name: &str) -> &Cluster {
        self.proxy
            .clusters
            .values()
            .find(|c| c.name.to_string() == name)
            .unwrap_or_else(|| panic!("no cluster {name}"))
    }
}

fn translate_objects(objects: &[Loaded]) -> Out {
    let Translation {
        mut proxies,
        findings,
        ..
    } = translate(objects, &Ports::default());
    let proxy = proxies
        .remove(&ProxyId::IngressGateway)
        .expect("an ingress gateway configuration");
    Out { proxy, findings }
}

fn cfg_of(extra: &str) -> Out {
    let text = format!("{}\n---\n{extra}", base());
    let objects = parse_documents(&text, Path::new("test.yaml")).expect("parses");
    translate_objects(&objects)
}

fn ok(extra: &str) -> Out {
    let cfg = cfg_of(extra);
    let errors = cfg.error_texts();
    assert!(errors.is_empty(), "unexpected findings: {errors:#?}");
    cfg
}

fn vs(http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: cc}}\nspec:\n  hosts: [\"*\"]\n  gateways: [kyc]\n  http:\n{http}"
    )
}

/// A match on a path prefix and nothing else.
fn prefix(p: &str) -> RouteMatch {
    RouteMatch {
        path: PathMatch::Prefix(p.into()),
        case_sensitive: None,
        headers: Vec::new(),
        query_parameters: Vec::new(),
    }
}

/// The single cluster a route sends to.
fn single(r: &Route) -> String {
    match &r.route.target {
        Some(RouteTarget::Cluster(c)) => c.to_string(),
        other => panic!("expected one cluster, got {other:?}"),
    }
}

/// The clusters and weights of a split route.
fn weighted(r: &Route) -> &[WeightedCluster] {
    match &r.route.target {
        Some(RouteTarget::WeightedClusters(w)) => &w.clusters,
        other => panic!("expected weighted clusters, got {other:?}"),
    }
}
