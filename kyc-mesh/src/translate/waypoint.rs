//! Waypoints (ambient mode) → their L7 configuration, as istiod builds a waypoint's: for each
//! Service that uses the waypoint (`istio.io/use-waypoint`, see `ambient.rs`) and each of its
//! ports, the routes of the HTTPRoutes whose parent is that Service (GAMMA), converted and
//! translated exactly as the gateway's HTTPRoutes are (`gateway_api.rs`); a Service without
//! one gets a route to itself. The clusters those routes name are built as for any proxy,
//! with endpoints on the workloads' contract ports: where the instances are and how HBONE
//! reaches them is decided at start (`envoy/hbone.rs`). Pure, no I/O.

use std::collections::BTreeMap;

use crate::ambient;
use crate::analyze::Severity;
use crate::envoy::cluster::Cluster;
use crate::envoy::rbac::{Permission, Policy, Principal, Rbac, RbacAction, Rules};
use crate::envoy::route::Route;
use crate::envoy::ClusterName;
use crate::identity::SpiffeId;
use crate::istio::{
    gateway_api, namespace_of, Action, Destination, HttpRoute, Loaded, PortSelector,
    RouteDestination, Rule,
};

use super::route::{RouteSource, Semantics};
use super::security::{all_of, any_of, method, path, source};
use super::Ctx;

/// The filter state key a waypoint's HBONE listener sets to the peer's SPIFFE ID and shares
/// with the internal listener, where its RBAC matches it (Istio's name).
pub(crate) const PEER_PRINCIPAL: &str = "io.istio.peer_principal";

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
    /// The AuthorizationPolicies attached to the Service or the waypoint (`targetRefs`), as
    /// Envoy's RBAC filters (DENY before ALLOW); none: no filter.
    pub(crate) rbac_deny: Option<Rbac>,
    pub(crate) rbac_allow: Option<Rbac>,
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
                let (rbac_deny, rbac_allow) = self.waypoint_rbac(&s.metadata.name, ns, &name);
                for port in s.spec.ports.iter().map(|p| p.port) {
                    let routes = self.service_routes(so, &s.metadata.name, ns, port);
                    services.push(WaypointService {
                        name: s.metadata.name.clone(),
                        namespace: ns.to_string(),
                        port,
                        routes,
                        rbac_deny: rbac_deny.clone(),
                        rbac_allow: rbac_allow.clone(),
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

    /// Every AuthorizationPolicy with `targetRefs`: checked (a Service that uses a waypoint, or
    /// a waypoint Gateway; no selector beside them), each problem a finding naming its field.
    pub(super) fn check_target_refs(&mut self, objects: &[Loaded]) {
        for (o, ap) in self.registry.authorization_policies.clone() {
            let ns = namespace_of(&ap.metadata.namespace);
            if !ap.spec.target_refs.is_empty() && ap.spec.selector.is_some() {
                self.findings.push(
                    Severity::Error,
                    o,
                    "spec.selector and spec.targetRefs: a policy has one or the other".into(),
                );
            }
            for (i, t) in ap.spec.target_refs.iter().enumerate() {
                let at = format!("spec.targetRefs[{i}]");
                let problem = match (t.group.as_str(), t.kind.as_str()) {
                    ("", "Service") => match self.registry.resolve(&t.name, ns) {
                        None => Some(format!("{at}: Service \"{ns}/{}\" not found", t.name)),
                        Some(res) if ambient::waypoint_of(objects, &self.registry, &res).is_none() => Some(format!(
                            "{at}: Service {} has no waypoint ({}), which enforces a policy attached to it",
                            t.name,
                            ambient::USE_WAYPOINT
                        )),
                        Some(_) => None,
                    },
                    (gateway_api::GROUP, "Gateway") => match self.registry.api_gateway(&t.name, ns) {
                        Some(g) if ambient::is_waypoint(g) => None,
                        _ => Some(format!("{at}: no waypoint Gateway \"{ns}/{}\" (class {})", t.name, ambient::WAYPOINT_CLASS)),
                    },
                    (group, kind) => Some(format!(
                        "{at}: group {group:?} kind {kind:?}: the local mesh attaches a policy to a Service (group \"\") or a waypoint Gateway ({})",
                        gateway_api::GROUP
                    )),
                };
                if let Some(p) = problem {
                    self.findings.push(Severity::Error, o, p);
                }
            }
        }
    }

    /// The RBAC filters of Service `name.ns` in waypoint `waypoint`: the policies whose
    /// `targetRefs` name the Service or the waypoint.
    fn waypoint_rbac(
        &mut self,
        name: &str,
        ns: &str,
        waypoint: &str,
    ) -> (Option<Rbac>, Option<Rbac>) {
        let mut deny = std::collections::BTreeMap::new();
        let mut allow = std::collections::BTreeMap::new();
        let mut any_allow = false;
        for (o, ap) in self.registry.authorization_policies.clone() {
            let targets = ap.spec.target_refs.iter().any(|t| {
                (t.group.is_empty() && t.kind == "Service" && t.name == name)
                    || (t.group == gateway_api::GROUP && t.kind == "Gateway" && t.name == waypoint)
            });
            if !targets || namespace_of(&ap.metadata.namespace) != ns {
                continue;
            }
            let target = match ap.spec.action {
                Action::Allow => &mut allow,
                Action::Deny => &mut deny,
                Action::Audit | Action::Custom => {
                    self.findings.push(
                        Severity::Error,
                        o,
                        "spec.action: only ALLOW and DENY are enforced by the local waypoint"
                            .into(),
                    );
                    continue;
                }
            };
            any_allow |= ap.spec.action == Action::Allow;
            for (i, rule) in ap.spec.rules.iter().enumerate() {
                if let Some(p) = self.waypoint_rule(o, i, rule) {
                    target.insert(
                        format!("ns[{ns}]-policy[{}]-rule[{i}]", ap.metadata.name),
                        p,
                    );
                }
            }
        }
        let rbac = |action, policies| Rbac {
            rules: Rules { action, policies },
        };
        (
            (!deny.is_empty()).then(|| rbac(RbacAction::Deny, deny)),
            any_allow.then(|| rbac(RbacAction::Allow, allow)),
        )
    }

    /// One rule at the waypoint: the peer's identity (from the HBONE listener, in the filter
    /// state), methods and paths. Ports are the node proxy's (L4); a token's attributes need a
    /// RequestAuthentication at the waypoint, which is not translated: refused by field.
    fn waypoint_rule(&mut self, o: &Loaded, i: usize, rule: &Rule) -> Option<Policy> {
        let mut problems = Vec::new();
        if !rule.when.is_empty() {
            problems.push(format!(
                "spec.rules[{i}].when: not translated at the local waypoint"
            ));
        }
        for (j, f) in rule.from.iter().enumerate() {
            if !f.source.request_principals.is_empty()
                || !f.source.not_request_principals.is_empty()
            {
                problems.push(format!("spec.rules[{i}].from[{j}].source.requestPrincipals: not translated at the local waypoint (no RequestAuthentication there)"));
            }
        }
        for (j, t) in rule.to.iter().enumerate() {
            if !t.operation.ports.is_empty() || !t.operation.not_ports.is_empty() {
                problems.push(format!("spec.rules[{i}].to[{j}].operation.ports: at the waypoint the port is the Service's; use a selector policy (the node proxy's L4) for ports"));
            }
        }
        if !problems.is_empty() {
            for p in problems {
                self.findings.push(Severity::Error, o, p);
            }
            return None;
        }
        let list = |v: &[String], f: fn(&str) -> Permission| {
            any_of(v.iter().map(|x| f(x)).collect(), Permission::Or)
        };
        let ops: Vec<Permission> = rule
            .to
            .iter()
            .map(|t| {
                let op = &t.operation;
                let mut all = Vec::new();
                all.extend(list(&op.methods, method));
                all.extend(list(&op.not_methods, method).map(|p| Permission::Not(Box::new(p))));
                all.extend(list(&op.paths, path));
                all.extend(list(&op.not_paths, path).map(|p| Permission::Not(Box::new(p))));
                all_of(all, Permission::And, Permission::Any)
            })
            .collect();
        let whom: Vec<Principal> = rule
            .from
            .iter()
            .map(|f| via_filter_state(source(&f.source)))
            .collect();
        Some(Policy {
            permissions: vec![any_of(ops, Permission::Or).unwrap_or(Permission::Any)],
            principals: vec![any_of(whom, Principal::Or).unwrap_or(Principal::Any)],
        })
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

/// A principal on the peer certificate, as the waypoint's internal listener sees it: in the
/// filter state its HBONE listener set.
fn via_filter_state(p: Principal) -> Principal {
    let all = |v: Vec<Principal>| v.into_iter().map(via_filter_state).collect();
    match p {
        Principal::Authenticated(matcher) => Principal::FilterState {
            key: PEER_PRINCIPAL,
            matcher,
        },
        Principal::And(v) => Principal::And(all(v)),
        Principal::Or(v) => Principal::Or(all(v)),
        Principal::Not(b) => Principal::Not(Box::new(via_filter_state(*b))),
        other => other,
    }
}
