//! The loaded objects sorted by kind, and host resolution the way istiod's service
//! registry does it: `name`, `name.ns`, `name.ns.svc[.cluster.local]` → one Service.
//! Both `analyze` and `translate` ask it, so they agree on what a host means.

use std::collections::BTreeMap;

use crate::istio::{
    gateway_api, namespace_of, AuthorizationPolicy, DestinationRule, Gateway, HttpRoute, JwtRule,
    Loaded, Object, PeerAuthentication, RequestAuthentication, RouteRef, Service, VirtualService,
    ROOT_NAMESPACE,
};
use crate::topology::Workload;

/// An object of one kind together with where it came from.
pub(crate) type Entry<'a, T> = (&'a Loaded, &'a T);

/// A Service host resolved to its fully qualified name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolved<'a> {
    pub(crate) service: &'a Service,
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
}

impl Resolved<'_> {
    /// `name.namespace.svc.cluster.local`, the host part of istiod's cluster names.
    pub(crate) fn fqdn(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name, self.namespace)
    }
}

/// An http route found by name, and its position in its VirtualService.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoundRoute<'a> {
    /// Its position in the VirtualService's `spec.http`.
    pub(crate) index: usize,
    pub(crate) route: &'a HttpRoute,
}

/// Why a [`RouteRef`] names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteMissing {
    NoVirtualService,
    /// The VirtualService exists without that route; the names of the routes it has.
    NoRoute {
        routes: Vec<String>,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Registry<'a> {
    pub(crate) services: Vec<Entry<'a, Service>>,
    pub(crate) gateways: Vec<Entry<'a, Gateway>>,
    pub(crate) virtual_services: Vec<Entry<'a, VirtualService>>,
    pub(crate) rules: Vec<Entry<'a, DestinationRule>>,
    /// Gateway API Gateways (`gateway.networking.k8s.io`), apart from Istio's.
    pub(crate) api_gateways: Vec<Entry<'a, gateway_api::Gateway>>,
    pub(crate) http_routes: Vec<Entry<'a, gateway_api::HttpRoute>>,
    pub(crate) peer_authentications: Vec<Entry<'a, PeerAuthentication>>,
    pub(crate) request_authentications: Vec<Entry<'a, RequestAuthentication>>,
    pub(crate) authorization_policies: Vec<Entry<'a, AuthorizationPolicy>>,
}

impl<'a> Registry<'a> {
    pub(crate) fn new(objects: &'a [Loaded]) -> Self {
        let mut r = Registry::default();
        for o in objects {
            match &o.object {
                Object::Service(s) => r.services.push((o, s)),
                Object::Gateway(g) => r.gateways.push((o, g)),
                Object::VirtualService(v) => r.virtual_services.push((o, v)),
                Object::DestinationRule(d) => r.rules.push((o, d)),
                Object::ApiGateway(g) => r.api_gateways.push((o, g)),
                Object::HttpRoute(h) => r.http_routes.push((o, h)),
                Object::PeerAuthentication(p) => r.peer_authentications.push((o, p)),
                Object::RequestAuthentication(p) => r.request_authentications.push((o, p)),
                Object::AuthorizationPolicy(p) => r.authorization_policies.push((o, p)),
                Object::Deployment(_) | Object::Namespace(_) | Object::TopologyOnly => {}
            }
        }
        r
    }

    /// The JWT rules of the RequestAuthentications that apply to workload `w` (of its
    /// namespace or the root namespace, with a selector that matches it or none), sorted by
    /// issuer as istiod sorts them: what its sidecar verifies.
    pub(crate) fn jwt_rules_for(&self, w: &Workload) -> Vec<&'a JwtRule> {
        let mut rules: Vec<&'a JwtRule> = self
            .request_authentications
            .iter()
            .filter(|(_, ra)| {
                let ns = namespace_of(&ra.metadata.namespace);
                (ns == w.namespace || ns == ROOT_NAMESPACE)
                    && ra
                        .spec
                        .selector
                        .as_ref()
                        .is_none_or(|s| w.selected_by(&s.match_labels))
            })
            .flat_map(|(_, ra)| ra.spec.jwt_rules.iter())
            .collect();
        rules.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        rules
    }

    /// The VirtualServices named `name`, whatever their namespace (a route reference names
    /// a VirtualService by name only).
    pub(crate) fn virtual_services_named<'n>(
        &'n self,
        name: &'n str,
    ) -> impl Iterator<Item = Entry<'a, VirtualService>> + 'n {
        self.virtual_services
            .iter()
            .copied()
            .filter(move |(_, v)| v.metadata.name == name)
    }

    /// The http route `r` names (the first VirtualService of that name that has it).
    pub(crate) fn http_route(&self, r: &RouteRef) -> Result<FoundRoute<'a>, RouteMissing> {
        let mut routes = Vec::new();
        let mut any = false;
        for (_, vs) in self.virtual_services_named(&r.virtual_service) {
            any = true;
            if let Some(index) = vs
                .spec
                .http
                .iter()
                .position(|h| h.name.as_deref() == Some(r.route.as_str()))
            {
                return Ok(FoundRoute {
                    index,
                    route: &vs.spec.http[index],
                });
            }
            routes.extend(vs.spec.http.iter().filter_map(|h| h.name.clone()));
        }
        Err(if any {
            RouteMissing::NoRoute { routes }
        } else {
            RouteMissing::NoVirtualService
        })
    }

    /// The Service a host names, seen from namespace `from_ns`.
    pub(crate) fn resolve(&self, host: &str, from_ns: &str) -> Option<Resolved<'a>> {
        let trimmed = host
            .trim_end_matches(".svc.cluster.local")
            .trim_end_matches(".svc");
        let mut parts = trimmed.split('.');
        let name = parts.next()?;
        let ns = parts.next().unwrap_or(from_ns);
        if parts.next().is_some() {
            return None;
        }
        self.services.iter().find_map(|(_, s)| {
            let s_ns = namespace_of(&s.metadata.namespace);
            (s.metadata.name == name && s_ns == ns).then_some(Resolved {
                service: s,
                name: &s.metadata.name,
                namespace: s_ns,
            })
        })
    }

    /// The DestinationRule of a Service host (the first one: a second is a finding).
    pub(crate) fn rule_for(&self, fqdn: &str) -> Option<Entry<'a, DestinationRule>> {
        self.rules.iter().copied().find(|(_, r)| {
            self.resolve(&r.spec.host, namespace_of(&r.metadata.namespace))
                .is_some_and(|res| res.fqdn() == fqdn)
        })
    }

    /// The names a VirtualService may use for a Gateway: `name` and `namespace/name`.
    pub(crate) fn gateway_names(&self) -> BTreeMap<String, &'a Gateway> {
        let mut names = BTreeMap::new();
        for (_, g) in &self.gateways {
            let ns = namespace_of(&g.metadata.namespace);
            names.insert(g.metadata.name.clone(), *g);
            names.insert(format!("{ns}/{}", g.metadata.name), *g);
        }
        names
    }

    /// The Gateway API Gateway a `parentRef` names: `name` in `namespace`.
    pub(crate) fn api_gateway(
        &self,
        name: &str,
        namespace: &str,
    ) -> Option<&'a gateway_api::Gateway> {
        self.api_gateways.iter().find_map(|(_, g)| {
            (g.metadata.name == name && namespace_of(&g.metadata.namespace) == namespace)
                .then_some(*g)
        })
    }
}
