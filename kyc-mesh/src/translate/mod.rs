//! Istio model + local topology → typed Envoy configuration, per proxy. Pure: no I/O.
//!
//! Done the way istiod programs the ingress gateway: one HTTP listener for the gateway
//! port, one route configuration (first match wins) and one cluster per (host, subset,
//! port) with the DestinationRule's traffic policy.
//!
//! Gateway API HTTPRoutes are first converted into the same route model
//! ([`gateway_api`]), as istiod converts them into VirtualServices, and share every step
//! after that.
//!
//! Follow a weight: `istio::RouteDestination::weight` (u32 from the YAML) →
//! [`route`]'s `translate_route` → `envoy::route::WeightedCluster { name: ClusterName,
//! weight: Weight }` in [`ProxyConfig::routes`] → serialised by `apply` or `render`.

mod cluster;
mod gateway_api;
mod node_policy;
mod route;
mod security;
mod sidecar;
mod waypoint;

pub(crate) use node_policy::NodePolicies;
pub(crate) use waypoint::{Waypoint, PEER_PRINCIPAL};

use std::collections::{BTreeMap, BTreeSet};

use crate::analyze::{self, Code, Findings, Severity};
use crate::envoy::bootstrap::{Admin, Bootstrap, Node, StaticResources};
use crate::envoy::cluster::Cluster;
use crate::envoy::limits::GatewayLimits;
use crate::envoy::listener::{HttpListener, RouteSpecifier};
use crate::envoy::route::{Route, RouteConfiguration, VirtualHost};
use crate::envoy::tls::SdsSources;
use crate::envoy::{ClusterName, Duration, ListenerKind};
use crate::identity::SpiffeId;
use crate::istio::Loaded;
use crate::registry::Registry;
use crate::topology::{Ports, SidecarPlan, Topology};

/// The Istio port the ingress gateway's listener stands for (the gateway Service's 80).
pub(crate) const INGRESS_ISTIO_PORT: u16 = 80;

/// Which Envoy a configuration is for: the ingress gateway, or the sidecar of one
/// workload (by Deployment name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ProxyId {
    IngressGateway,
    Sidecar(&'static str),
}

impl ProxyId {
    /// Its directory under the state directory (certificates, xDS files).
    pub(crate) fn dir_name(&self) -> &'static str {
        match self {
            ProxyId::IngressGateway => "istio-ingressgateway",
            ProxyId::Sidecar(w) => w,
        }
    }
}

impl std::fmt::Display for ProxyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyId::IngressGateway => write!(f, "istio-ingressgateway"),
            ProxyId::Sidecar(w) => write!(f, "{w}/istio-proxy"),
        }
    }
}

/// One HTTP listener of a proxy and its route table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProxyListener {
    pub(crate) listener: HttpListener,
    pub(crate) routes: RouteConfiguration,
}

/// Everything one Envoy needs: its node, its listeners with their routes (the gateway
/// has one; a sidecar its inbound, then its outbound), its clusters, and in a mesh with
/// sidecars its workload identity.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProxyConfig {
    pub(crate) node: Node,
    pub(crate) listeners: Vec<ProxyListener>,
    pub(crate) clusters: BTreeMap<ClusterName, Cluster>,
    pub(crate) identity: Option<ProxyIdentity>,
}

/// A proxy's SPIFFE identity and where its certificate files and SDS secrets are (`up`
/// issues them there with `identity::MeshCa` before the proxy starts).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProxyIdentity {
    pub(crate) spiffe: SpiffeId,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) sds: SdsSources,
}

impl ProxyIdentity {
    fn new(spiffe: SpiffeId, certs: &std::path::Path, id: ProxyId) -> Self {
        let dir = certs.join(id.dir_name());
        ProxyIdentity {
            spiffe,
            sds: SdsSources::in_dir(&dir),
            dir,
        }
    }
}

impl ProxyConfig {
    /// A self-contained static bootstrap (what `render` prints).
    pub(crate) fn static_bootstrap(&self, admin_port: u16) -> Bootstrap {
        Bootstrap {
            node: self.node.clone(),
            admin: Admin::loopback(admin_port),
            stats_config: crate::envoy::stats::StatsConfig::istio_cluster_names(),
            overload_manager: None,
            static_resources: Some(StaticResources {
                listeners: self
                    .listeners
                    .iter()
                    .map(|l| {
                        l.listener.build(
                            RouteSpecifier::RouteConfig(l.routes.clone()),
                            self.identity.as_ref().map(|i| &i.sds),
                        )
                    })
                    .collect(),
                clusters: self.clusters.values().cloned().collect(),
            }),
            dynamic_resources: None,
        }
    }

    /// The first listener (the gateway's only one, a sidecar's inbound).
    pub(crate) fn main_listener(&self) -> Option<&ProxyListener> {
        self.listeners.first()
    }
}

/// The output of translation: one configuration per proxy, and what `check` reports.
#[derive(Debug, Clone)]
pub(crate) struct Translation {
    pub(crate) proxies: BTreeMap<ProxyId, ProxyConfig>,
    /// The waypoints (ambient mode) and the Services they serve.
    pub(crate) waypoints: Vec<Waypoint>,
    /// The node proxy's L4 policies of the ambient workloads.
    pub(crate) node_policies: NodePolicies,
    pub(crate) findings: Findings,
}

#[cfg(test)]
impl Translation {
    pub(crate) fn proxy(&self, id: ProxyId) -> Option<&ProxyConfig> {
        self.proxies.get(&id)
    }
}

/// What translation reads and accumulates.
struct Ctx<'a> {
    registry: Registry<'a>,
    topology: Topology,
    findings: Findings,
    clusters: BTreeMap<ClusterName, Cluster>,
    /// The injected workloads: a cluster whose pods all have one speaks mTLS to them.
    plan: SidecarPlan,
    /// The SDS secrets of the proxy whose clusters are being built (None: plaintext).
    sds: Option<SdsSources>,
}

/// A value translation cannot turn into Envoy configuration: the text of its finding (it
/// names the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Untranslatable(pub String);

impl From<String> for Untranslatable {
    fn from(text: String) -> Self {
        Untranslatable(text)
    }
}

impl From<&str> for Untranslatable {
    fn from(text: &str) -> Self {
        Untranslatable(text.to_string())
    }
}

/// An Istio duration field as an Envoy duration; the error names the field.
fn dur(text: &str, what: &str) -> Result<Duration, Untranslatable> {
    Duration::parse_istio(text).map_err(|e| Untranslatable(format!("{what}: {e}")))
}

/// Translate loaded objects into the ingress gateway's configuration plus findings (the
/// edge-only mesh: no sidecars).
#[cfg(test)]
pub(crate) fn translate(objects: &[Loaded], ports: &Ports) -> Translation {
    translate_mesh(objects, ports, &SidecarPlan::default())
}

/// Translate for the gateway and one sidecar per workload the plan injects.
pub(crate) fn translate_mesh(objects: &[Loaded], ports: &Ports, plan: &SidecarPlan) -> Translation {
    let registry = Registry::new(objects);
    let topology = Topology::local(ports, objects);
    let findings = analyze::objects(objects, &registry, &topology);
    let mut ctx = Ctx {
        registry,
        topology,
        findings,
        clusters: BTreeMap::new(),
        plan: plan.clone(),
        sds: None,
    };
    let gateway_identity = (!plan.sidecars.is_empty()).then(|| {
        ProxyIdentity::new(
            SpiffeId::ingress_gateway(),
            &plan.certs,
            ProxyId::IngressGateway,
        )
    });
    ctx.sds = gateway_identity.as_ref().map(|i| i.sds.clone());
    ctx.check_security();
    if plan.sidecars.is_empty() {
        // As in a namespace without injection: the policies have no proxy to enforce them
        // (an AuthorizationPolicy of ambient mode has: the node proxy or the waypoint).
        let injected = crate::injection::injected_workloads(objects, &ctx.topology);
        let ambient = crate::ambient::ambient_workloads(objects, &ctx.topology, &injected);
        let enforced_in_ambient = |ap: &crate::istio::AuthorizationPolicy| {
            !ap.spec.target_refs.is_empty()
                || ctx.topology.workloads.iter().any(|w| {
                    ambient.contains(w.name)
                        && ap
                            .spec
                            .selector
                            .as_ref()
                            .is_none_or(|s| w.selected_by(&s.match_labels))
                })
        };
        let policies: Vec<&Loaded> = ctx
            .registry
            .peer_authentications
            .iter()
            .map(|(o, _)| *o)
            .chain(
                ctx.registry
                    .authorization_policies
                    .iter()
                    .filter(|(_, ap)| !enforced_in_ambient(ap))
                    .map(|(o, _)| *o),
            )
            .collect();
        for o in policies {
            let note = "no sidecars in this mesh (edge only): nothing enforces this policy";
            ctx.findings.push(Severity::Info, o, note.into());
        }
    }
    let virtual_hosts = ctx.virtual_hosts();
    let listener = HttpListener {
        kind: ListenerKind::Gateway,
        istio_port: INGRESS_ISTIO_PORT,
        local_port: ports.gateway,
        limits: GatewayLimits::default(),
        mtls: None,
        jwt: None,
    };
    let ingress = ProxyConfig {
        node: Node {
            id: "kyc-mesh".into(),
            cluster: crate::envoy::telemetry::SERVICE_NAME.into(),
        },
        listeners: vec![ProxyListener {
            routes: RouteConfiguration {
                name: listener.route_config_name(),
                virtual_hosts,
                validate_clusters: false,
            },
            listener,
        }],
        clusters: std::mem::take(&mut ctx.clusters),
        identity: gateway_identity,
    };
    let mut proxies = BTreeMap::from([(ProxyId::IngressGateway, ingress)]);
    for (name, sp) in &plan.sidecars {
        if let Some(proxy) = ctx.sidecar(name, *sp, ports) {
            proxies.insert(ProxyId::Sidecar(name), proxy);
        }
    }
    // Waypoints reach their endpoints over HBONE (their own certificate), not a sidecar's mTLS.
    ctx.sds = None;
    ctx.clusters.clear();
    ctx.check_target_refs(objects);
    let waypoints = ctx.waypoints(objects);
    let injected = crate::injection::injected_workloads(objects, &ctx.topology);
    let ambient = crate::ambient::ambient_workloads(objects, &ctx.topology, &injected);
    let node_policies = ctx.node_policies(&ambient);
    Translation {
        proxies,
        waypoints,
        node_policies,
        findings: ctx.findings,
    }
}

impl Ctx<'_> {
    /// HTTPRoutes and VirtualServices bound to a Gateway, grouped by host: one Envoy
    /// virtual host each, in the order hosts first appear.
    ///
    /// Both kinds are served on the one gateway port. On a host both bind, the HTTPRoutes'
    /// routes are matched first: in the cluster a Gateway API Gateway is its own gateway
    /// Deployment, which the callers moved to it (the scenario's ConfigMap) reach, so its
    /// routes are the ones that answer them; the VirtualServices still answer what no
    /// HTTPRoute matches.
    fn virtual_hosts(&mut self) -> Vec<VirtualHost> {
        let gateway_names: BTreeSet<String> = self.registry.gateway_names().into_keys().collect();
        let mut by_host: Vec<(String, Vec<Route>)> = self.gateway_api_hosts();
        let api_hosts: BTreeSet<String> = by_host.iter().map(|(h, _)| h.clone()).collect();
        for (o, vs) in self.registry.virtual_services.clone() {
            let bound: Vec<&String> = vs.spec.gateways.iter().filter(|g| *g != "mesh").collect();
            if bound.is_empty() {
                self.findings.push(
                    Severity::Info,
                    o,
                    "not bound to a Gateway (mesh-only): not applied at the local ingress gateway"
                        .into(),
                );
                continue;
            }
            for g in bound.into_iter().filter(|g| !gateway_names.contains(*g)) {
                self.findings.push_coded(
                    Severity::Error,
                    o,
                    format!("spec.gateways: Gateway {g:?} not found"),
                    Some(Code::ReferencedResourceNotFound),
                );
            }
            let mut routes = Vec::new();
            for (i, r) in vs.spec.http.iter().enumerate() {
                let source = route::RouteSource::virtual_service(vs, i, r);
                routes.extend(self.translate_route(o, &source, r, &gateway_names));
            }
            for h in &vs.spec.hosts {
                if api_hosts.contains(h) {
                    self.findings.push(
                        Severity::Info,
                        o,
                        format!("host {h:?} is also bound by HTTPRoutes on the local gateway port: their routes are matched first, this VirtualService's after them (in the cluster they are two gateway Deployments)"),
                    );
                }
                match by_host.iter_mut().find(|(host, _)| host == h) {
                    Some((_, existing)) => existing.extend(routes.iter().cloned()),
                    None => by_host.push((h.clone(), routes.clone())),
                }
            }
        }
        by_host
            .into_iter()
            .map(|(h, routes)| VirtualHost {
                name: format!("{h}:{INGRESS_ISTIO_PORT}"),
                domains: if h == "*" {
                    vec![h]
                } else {
                    vec![h.clone(), format!("{h}:*")]
                },
                routes,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
