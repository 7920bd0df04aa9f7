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
mod route;

pub use route::ISTIO_DEFAULT_RETRY_ON;

use std::collections::{BTreeMap, BTreeSet};

use crate::analyze::{self, Code, Findings, Severity};
use crate::envoy::bootstrap::{Admin, Bootstrap, Node, StaticResources};
use crate::envoy::cluster::Cluster;
use crate::envoy::limits::GatewayLimits;
use crate::envoy::listener::{HttpListener, RouteSpecifier};
use crate::envoy::route::{Route, RouteConfiguration, VirtualHost};
use crate::envoy::{ClusterName, Duration};
use crate::istio::Loaded;
use crate::registry::Registry;
use crate::topology::{Ports, Topology};

/// The Istio port the ingress gateway's listener stands for (the gateway Service's 80).
pub const INGRESS_ISTIO_PORT: u16 = 80;

/// Which Envoy a configuration is for. Today the ingress gateway only; per-workload
/// sidecars get their own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProxyId {
    IngressGateway,
}

/// Everything one Envoy needs: its identity, its listener, its routes and clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    pub node: Node,
    pub listener: HttpListener,
    pub routes: RouteConfiguration,
    pub clusters: BTreeMap<ClusterName, Cluster>,
}

impl ProxyConfig {
    /// A self-contained static bootstrap (what `render` prints).
    pub fn static_bootstrap(&self, admin_port: u16) -> Bootstrap {
        Bootstrap {
            node: self.node,
            admin: Admin::loopback(admin_port),
            stats_config: crate::envoy::stats::StatsConfig::istio_cluster_names(),
            overload_manager: None,
            static_resources: Some(StaticResources {
                listeners: vec![self
                    .listener
                    .build(RouteSpecifier::RouteConfig(self.routes.clone()))],
                clusters: self.clusters.values().cloned().collect(),
            }),
            dynamic_resources: None,
        }
    }
}

/// The output of translation: one configuration per proxy, and what `check` reports.
#[derive(Debug, Clone)]
pub struct Translation {
    pub proxies: BTreeMap<ProxyId, ProxyConfig>,
    pub findings: Findings,
}

impl Translation {
    pub fn proxy(&self, id: ProxyId) -> Option<&ProxyConfig> {
        self.proxies.get(&id)
    }
}

/// What translation reads and accumulates.
struct Ctx<'a> {
    registry: Registry<'a>,
    topology: Topology,
    findings: Findings,
    clusters: BTreeMap<ClusterName, Cluster>,
}

/// An Istio duration field as an Envoy duration; the error names the field.
fn dur(text: &str, what: &str) -> Result<Duration, String> {
    Duration::parse_istio(text).map_err(|e| format!("{what}: {e}"))
}

/// Translate loaded objects into Envoy configuration plus findings.
pub fn translate(objects: &[Loaded], ports: &Ports) -> Translation {
    let registry = Registry::new(objects);
    let topology = Topology::local(ports, objects);
    let findings = analyze::objects(objects, &registry, &topology);
    let mut ctx = Ctx {
        registry,
        topology,
        findings,
        clusters: BTreeMap::new(),
    };
    let virtual_hosts = ctx.virtual_hosts();
    let listener = HttpListener {
        istio_port: INGRESS_ISTIO_PORT,
        local_port: ports.gateway,
        limits: GatewayLimits::default(),
    };
    let ingress = ProxyConfig {
        node: Node {
            id: "kyc-mesh",
            cluster: "istio-ingressgateway",
        },
        routes: RouteConfiguration {
            name: listener.route_config_name(),
            virtual_hosts,
            validate_clusters: false,
        },
        listener,
        clusters: ctx.clusters,
    };
    Translation {
        proxies: BTreeMap::from([(ProxyId::IngressGateway, ingress)]),
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
