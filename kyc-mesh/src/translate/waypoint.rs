//! Waypoints (ambient mode) → their L7 configuration, as istiod builds a waypoint's: for each
//! Service that uses the waypoint (`istio.io/use-waypoint`, see `ambient.rs`) and each of its
//! ports, the routes of the HTTPRoutes whose parent is that Service (GAMMA), converted and
//! translated exactly as the gateway's HTTPRoutes are (`gateway_api.rs`); a Service without
//! one gets a route to itself. The clusters those routes name are built as for any proxy,
//! with endpoints on the workloads' contract ports: where the instances are and how HBONE
//! reaches them is decided at start (`envoy/hbone.rs`). Pure, no I/O.

use std::collections::BTreeMap;

use crate::ambient;
use crate::envoy::cluster::Cluster;
use crate::envoy::route::Route;
use crate::envoy::ClusterName;
use crate::identity::SpiffeId;
use crate::istio::{namespace_of, Destination, HttpRoute, Loaded, PortSelector, RouteDestination};

use super::route::{RouteSource, Semantics};
use super::Ctx;

/// One waypoint's configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Waypoint {
    /// The Gateway's name and namespace (its service account too, as Istio deploys it).
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) identity: SpiffeId,
    pub(crate) services: Vec<WaypointService>,
    pub(crate) clusters: BTreeMap<ClusterName, Cluster>,
}

/// A Service port the waypoint serves: the CONNECT authority it answers and its routes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WaypointService {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) port: u16,
    /// In order, first match wins (one virtual host: the Service is known from the CONNECT).
    pub(crate) routes: Vec<Route>,
}

impl WaypointService {
    /// `<name>.<namespace>.svc.cluster.local`.
    pub(crate) fn fqdn(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name, self.namespace)
    }

    /// The name istiod gives the waypoint's per-service listener and cluster
    /// (`inbound-vip|<port>|http|<fqdn>`).
    pub(crate) fn vip_name(&self) -> String {
        format!("inbound-vip|{}|http|{}", self.port, self.fqdn())
    }
}

impl Ctx<'_> {
    /// Every waypoint of networking/ and what it serves.
    pub(super) fn waypoints(&mut self, objects: &[Loaded]) -> Vec<Waypoint> {
        let gateways: Vec<(&Loaded, String, String)> = self
            .registry
            .api_gateways
            .iter()
            .filter(|(_, g)| ambient::is_waypoint(g))
            .map(|(o, g)| {
                (
                    *o,
                    g.metadata.name.clone(),
                    namespace_of(&g.metadata.namespace).to_string(),
                )
            })
            .collect();
        let mut out = Vec::new();
        for (_, name, namespace) in gateways {
            let mut services = Vec::new();
            for (so, s) in self.registry.services.clone() {
                let ns = namespace_of(&s.metadata.namespace);
                let Some(res) = self.registry.resolve(&s.metadata.name, ns) else {
                    continue;
                };
                let uses = ambient::waypoint_of(objects, &self.registry, &res)
                    .is_some_and(|g| g.metadata.name == name && ns == namespace);
                if !uses {
                    continue;
                }
                for port in s.spec.ports.iter().map(|p| p.port) {
                    let routes = self.service_routes(so, &s.metadata.name, ns, port);
                    services.push(WaypointService {
                        name: s.metadata.name.clone(),
                        namespace: ns.to_string(),
                        port,
                        routes,
                    });
                }
            }
            out.push(Waypoint {
                identity: SpiffeId::new(&namespace, &name),
                name,
                namespace,
                services,
                clusters: std::mem::take(&mut self.clusters),
            });
        }
        out
    }

    /// The routes of Service `name.ns` port `port` in its waypoint: its HTTPRoutes' (Gateway
    /// API precedence across them), else one route to the Service itself.
    fn service_routes(&mut self, so: &Loaded, name: &str, ns: &str, port: u16) -> Vec<Route> {
        let mut ranked = Vec::new();
        for (o, hr) in self.registry.http_routes.clone() {
            let route_ns = namespace_of(&hr.metadata.namespace);
            let parent = hr.spec.parent_refs.iter().any(|p| {
                ambient::is_service_parent(p)
                    && p.name == name
                    && p.namespace.as_deref().unwrap_or(route_ns) == ns
                    && p.port.is_none_or(|p| p == port)
            });
            if parent {
                ranked.extend(self.rule_routes(o, hr));
            }
        }
        if ranked.is_empty() {
            let to_itself = HttpRoute {
                route: vec![RouteDestination {
                    destination: Destination {
                        host: format!("{name}.{ns}.svc.cluster.local"),
                        subset: None,
                        port: Some(PortSelector { number: port }),
                    },
                    weight: None,
                    headers: None,
                }],
                ..HttpRoute::default()
            };
            let source = RouteSource {
                namespace: ns,
                name: format!("{ns}.{name}.default"),
                field: "spec".into(),
                semantics: Semantics::GatewayApi,
            };
            return self.translate_route(so, &source, &to_itself, &Default::default());
        }
        ranked.sort_by(|a, b| a.0.cmp(&b.0));
        ranked.into_iter().map(|(_, r)| r).collect()
    }
}
