//! A workload's sidecar, programmed as istiod programs one:
//!
//! - **inbound**: a listener on the workload's contract port (what every caller is told),
//!   route table `inbound|8080||` → cluster `inbound|8080||`, whose endpoint is the app
//!   instance behind it (a port nobody else is told about; `apply::endpoints` points it
//!   at the running instance, as the pod's app container is what the sidecar forwards to);
//! - **outbound**: a listener the app's own calls go to (iptables' capture in a pod),
//!   route table `8080`: one virtual host per mesh Service (`kyc-credit-check-basic`,
//!   `…:8080`, `….default`, the FQDN) → `outbound|8080||<fqdn>` (or the routes of a
//!   VirtualService bound to `mesh`), and every other host → the ingress gateway
//!   (`outbound|80||istio-ingressgateway.istio-system.svc.cluster.local`), which is what
//!   the aggregator's `KYC_GATEWAY_URL` names in the cluster.

use std::collections::{BTreeMap, BTreeSet};

use crate::envoy::bootstrap::Node;
use crate::envoy::limits::GatewayLimits;
use crate::envoy::listener::{HttpListener, RBAC_ALLOW_FILTER, RBAC_DENY_FILTER};
use crate::envoy::rbac::RbacPerRoute;
use crate::envoy::route::{
    PathMatch, PerFilterConfig, RegexMatcher, Route, RouteAction, RouteConfiguration, RouteMatch,
    RouteTarget, RouteTracing, VirtualHost,
};
use crate::envoy::{Any, ClusterName, Duration, ListenerKind};
use crate::istio::{namespace_of, Destination, PortSelector, TrafficPolicy};
use crate::topology::{Ports, SidecarPorts, CONTAINER_PORT};

use super::cluster::build_cluster;
use super::route::retry_policy;
use super::{Ctx, ProxyConfig, ProxyId, ProxyIdentity, ProxyListener};
use crate::identity::SpiffeId;

/// The ingress gateway's Service, as sidecars name it.
pub(super) const INGRESS_FQDN: &str = "istio-ingressgateway.istio-system.svc.cluster.local";

/// A route to one cluster with Istio's defaults (no timeout, 2 retries).
fn default_route(name: &str, cluster: ClusterName) -> Route {
    Route {
        name: name.to_string(),
        matcher: RouteMatch {
            path: PathMatch::Prefix("/".into()),
            case_sensitive: None,
            headers: Vec::new(),
            query_parameters: Vec::new(),
        },
        route: RouteAction {
            target: Some(RouteTarget::Cluster(cluster)),
            timeout: Some(Duration::ZERO),
            retry_policy: retry_policy(None).ok().flatten(),
            ..RouteAction::default()
        },
        headers: Default::default(),
        typed_per_filter_config: BTreeMap::new(),
        tracing: None,
    }
}

impl Ctx<'_> {
    /// The sidecar of workload `name`; `None` when the topology has no such workload.
    pub(super) fn sidecar(
        &mut self,
        name: &'static str,
        sp: SidecarPorts,
        ports: &Ports,
    ) -> Option<ProxyConfig> {
        let w = self.topology.get(name)?.clone();
        let id = ProxyId::Sidecar(name);
        let identity = ProxyIdentity::new(
            SpiffeId::new(&w.namespace, &w.service_account),
            &self.plan.certs.clone(),
            id,
        );
        self.sds = Some(identity.sds.clone());
        let inbound = ClusterName::inbound(CONTAINER_PORT);
        // No retries inbound (istiod's inbound routes have none): the caller's sidecar retries.
        let mut inbound_route = default_route("default", inbound.clone());
        inbound_route.route.retry_policy = None;
        inbound_route.typed_per_filter_config = self.inbound_rbac(&w);
        // Probes reach the app whatever the policies say, as Istio rewrites the kubelet's
        // probes to its agent: the readiness checks of the gateway and of other sidecars.
        let mut probes = inbound_route.clone();
        probes.name = "probes".into();
        probes.matcher.path = PathMatch::SafeRegex(RegexMatcher {
            regex: "/(readyz|healthz)".into(),
        });
        let off = || PerFilterConfig::Rbac(Any::new(RbacPerRoute::default()));
        probes.typed_per_filter_config =
            BTreeMap::from([(RBAC_DENY_FILTER, off()), (RBAC_ALLOW_FILTER, off())]);
        probes.tracing = Some(RouteTracing::off());
        let mtls = self.inbound_mtls(&w);
        // The default policy has nothing build_cluster could refuse (it only refuses
        // DestinationRule values).
        if let Ok(c) = build_cluster(inbound.clone(), &[w.port], &TrafficPolicy::default()) {
            self.clusters.insert(inbound, c);
        }
        let inbound_listener = HttpListener {
            kind: ListenerKind::SidecarInbound,
            istio_port: CONTAINER_PORT,
            local_port: w.port,
            limits: GatewayLimits::default(),
            mtls: Some(mtls),
            jwt: self.inbound_jwt(&w).map(Box::new),
        };
        let outbound_listener = HttpListener {
            kind: ListenerKind::SidecarOutbound,
            istio_port: CONTAINER_PORT,
            local_port: sp.outbound,
            limits: GatewayLimits::default(),
            mtls: None,
            jwt: None,
        };
        let mut outbound_hosts = self.mesh_virtual_hosts(&w.namespace);
        let gateway = ClusterName::outbound(80, None, INGRESS_FQDN);
        if let Ok(mut c) =
            build_cluster(gateway.clone(), &[ports.gateway], &TrafficPolicy::default())
        {
            // The gateway has no readiness endpoint of its own (its routes would answer).
            c.health_checks.clear();
            self.clusters.insert(gateway.clone(), c);
        }
        outbound_hosts.push(VirtualHost {
            name: "allow_any".into(),
            domains: vec!["*".into()],
            routes: vec![default_route("allow_any", gateway)],
        });
        let ns = &w.namespace;
        Some(ProxyConfig {
            node: Node {
                id: format!("sidecar~127.0.0.1~{name}.{ns}~{ns}.svc.cluster.local"),
                cluster: format!("{name}.{ns}"),
            },
            listeners: vec![
                ProxyListener {
                    routes: RouteConfiguration {
                        name: inbound_listener.route_config_name(),
                        virtual_hosts: vec![VirtualHost {
                            name: format!("inbound|http|{CONTAINER_PORT}"),
                            domains: vec!["*".into()],
                            routes: vec![probes, inbound_route],
                        }],
                        validate_clusters: false,
                    },
                    listener: inbound_listener,
                },
                ProxyListener {
                    routes: RouteConfiguration {
                        name: outbound_listener.route_config_name(),
                        virtual_hosts: outbound_hosts,
                        validate_clusters: false,
                    },
                    listener: outbound_listener,
                },
            ],
            clusters: std::mem::take(&mut self.clusters),
            identity: Some(identity),
        })
    }

    /// One virtual host per port of each Service that selects a local pod: the routes of
    /// the VirtualServices bound to `mesh` for that host, else Istio's default route.
    fn mesh_virtual_hosts(&mut self, from_ns: &str) -> Vec<VirtualHost> {
        let mesh: BTreeSet<String> = BTreeSet::from(["mesh".to_string()]);
        let mut hosts = Vec::new();
        let services = self.registry.services.clone();
        for (_, svc) in services {
            if self
                .topology
                .ports_selected_by(&svc.spec.selector)
                .is_empty()
            {
                continue;
            }
            let ns = namespace_of(&svc.metadata.namespace).to_string();
            let name = svc.metadata.name.clone();
            let fqdn = format!("{name}.{ns}.svc.cluster.local");
            for port in svc.spec.ports.iter().map(|p| p.port) {
                let routes = self.mesh_routes(&fqdn, &mesh);
                let routes = match routes {
                    Some(r) => r,
                    None => {
                        let dest = Destination {
                            host: fqdn.clone(),
                            subset: None,
                            port: Some(PortSelector { number: port }),
                        };
                        let origin = self.registry.services.iter().find_map(|(o, s)| {
                            (s.metadata.name == name && namespace_of(&s.metadata.namespace) == ns)
                                .then_some(*o)
                        });
                        let Some(origin) = origin else { continue };
                        match self.cluster_for(origin, &dest, &ns) {
                            Some(c) => vec![default_route("default", c)],
                            None => continue,
                        }
                    }
                };
                let mut domains = vec![
                    fqdn.clone(),
                    format!("{name}.{ns}.svc"),
                    format!("{name}.{ns}"),
                ];
                if ns == from_ns {
                    domains.push(name.clone());
                }
                let with_port: Vec<String> =
                    domains.iter().map(|d| format!("{d}:{port}")).collect();
                domains.extend(with_port);
                hosts.push(VirtualHost {
                    name: format!("{fqdn}:{port}"),
                    domains,
                    routes,
                });
            }
        }
        hosts
    }

    /// The routes of the VirtualServices bound to `mesh` (or without `gateways`) whose
    /// hosts resolve to `fqdn`, in file order; `None` when there is none.
    fn mesh_routes(&mut self, fqdn: &str, mesh: &BTreeSet<String>) -> Option<Vec<Route>> {
        let mut routes = Vec::new();
        let mut found = false;
        for (o, vs) in self.registry.virtual_services.clone() {
            let bound = vs.spec.gateways.is_empty() || vs.spec.gateways.iter().any(|g| g == "mesh");
            let vs_ns = namespace_of(&vs.metadata.namespace);
            let matches_host = vs.spec.hosts.iter().any(|h| {
                self.registry
                    .resolve(h, vs_ns)
                    .is_some_and(|r| r.fqdn() == fqdn)
            });
            if !bound || !matches_host {
                continue;
            }
            found = true;
            for (i, r) in vs.spec.http.iter().enumerate() {
                let source = super::route::RouteSource::virtual_service(vs, i, r);
                routes.extend(self.translate_route(o, &source, r, mesh));
            }
        }
        found.then_some(routes)
    }
}
