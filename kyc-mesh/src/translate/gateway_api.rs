//! Gateway API HTTPRoutes → the route model, the way istiod converts them
//! (pilot/pkg/config/kube/gateway/conversion.go): each rule × match becomes one route of a
//! VirtualService-shaped [`HttpRoute`] with gateway semantics, then goes through the same
//! [`Ctx::translate_route`] and cluster building as a VirtualService. No Envoy type is
//! built here.
//!
//! Attachment: a route attaches to the listeners of its `parentRefs` Gateways
//! (`sectionName`, `port`, `allowedRoutes` respected); its hosts are its `hostnames`
//! intersected with the listener's `hostname` (none = `*`). Order: Gateway API precedence
//! across all routes of a host (exact path, then longest prefix, method, most headers, most
//! query parameters), ties alphabetical by namespace/name (objects applied together share a
//! creation time), then rule and match order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::analyze::Severity;
use crate::envoy::route::Route;
use crate::istio::gateway_api::{
    self, duration_ms, FilterType, FromNamespaces, Gateway, HttpRoute as ApiRoute, Listener,
    PathMatchType, Rule, ValueMatch, ValueMatchType,
};
use crate::istio::{
    namespace_of, Destination, HeaderOps, Headers, HttpMatch, HttpRoute, Loaded, PortSelector,
    Rewrite, RouteDestination, StringMatch,
};

use super::route::{RouteSource, Semantics};
use super::{Ctx, Untranslatable};

/// The Gateway API's largest backend weight (its CRD's maximum): Envoy's total stays in u32.
const MAX_WEIGHT: u32 = 1_000_000;

/// Gateway API precedence of one match; smaller sorts first.
pub(super) type Rank = (
    Reverse<u8>,
    Reverse<usize>,
    Reverse<bool>,
    Reverse<usize>,
    Reverse<usize>,
    String,
    usize,
    usize,
);

fn rank(m: &gateway_api::RouteMatch, route: &str, rule: usize, index: usize) -> Rank {
    let (kind, len) = match &m.path {
        None => (2, 1),
        Some(p) => (
            match p.kind {
                PathMatchType::Exact => 3,
                PathMatchType::PathPrefix => 2,
                PathMatchType::RegularExpression => 1,
            },
            p.value.len(),
        ),
    };
    (
        Reverse(kind),
        Reverse(len),
        Reverse(m.method.is_some()),
        Reverse(m.headers.len()),
        Reverse(m.query_params.len()),
        route.to_string(),
        rule,
        index,
    )
}

impl Ctx<'_> {
    /// The routes every HTTPRoute contributes to the ingress gateway, by host, in Gateway
    /// API precedence (hosts in the order they first appear).
    pub(super) fn gateway_api_hosts(&mut self) -> Vec<(String, Vec<Route>)> {
        let mut by_host: Vec<(String, Vec<(Rank, Route)>)> = Vec::new();
        for (o, hr) in self.registry.http_routes.clone() {
            let hosts = self.attached_hosts(o, hr);
            if hosts.is_empty() {
                continue;
            }
            for (r, route) in self.rule_routes(o, hr) {
                for h in &hosts {
                    let i = match by_host.iter().position(|(host, _)| host == h) {
                        Some(i) => i,
                        None => {
                            by_host.push((h.clone(), Vec::new()));
                            by_host.len() - 1
                        }
                    };
                    by_host[i].1.push((r.clone(), route.clone()));
                }
            }
        }
        by_host
            .into_iter()
            .map(|(h, mut routes)| {
                routes.sort_by(|a, b| a.0.cmp(&b.0));
                (h, routes.into_iter().map(|(_, r)| r).collect())
            })
            .collect()
    }

    /// One HTTPRoute's routes, each with its Gateway API precedence: every rule × match
    /// converted and translated (a rule that does not convert is a finding naming it).
    pub(super) fn rule_routes(&mut self, o: &Loaded, hr: &ApiRoute) -> Vec<(Rank, Route)> {
        let ns = namespace_of(&hr.metadata.namespace);
        let route_key = format!("{ns}/{}", hr.metadata.name);
        let mut out = Vec::new();
        for (ri, rule) in hr.spec.rules.iter().enumerate() {
            let field = format!("spec.rules[{ri}]");
            let converted = match convert_rule(rule, ns) {
                Ok(r) => r,
                Err(e) => {
                    self.findings
                        .push(Severity::Error, o, format!("{field}{e}"));
                    continue;
                }
            };
            // A backend `analyze` found missing (IST0101) is not reported twice.
            if !self.backends_resolve(&converted, ns) {
                continue;
            }
            let default_match = [gateway_api::RouteMatch::default()];
            let matches = if rule.matches.is_empty() {
                &default_match[..]
            } else {
                &rule.matches[..]
            };
            let label = rule.name.clone().unwrap_or_else(|| ri.to_string());
            for (mi, m) in matches.iter().enumerate() {
                let http_match = match convert_match(m) {
                    Ok(h) => h,
                    Err(e) => {
                        self.findings
                            .push(Severity::Error, o, format!("{field}.matches[{mi}]{e}"));
                        continue;
                    }
                };
                let one = HttpRoute {
                    matches: vec![http_match],
                    ..converted.clone()
                };
                let source = RouteSource {
                    namespace: ns,
                    name: format!("{ns}.{}.{label}", hr.metadata.name),
                    field: field.clone(),
                    semantics: Semantics::GatewayApi,
                };
                let routes = self.translate_route(o, &source, &one, &BTreeSet::new());
                let r = rank(m, &route_key, ri, mi);
                out.extend(routes.into_iter().map(|route| (r.clone(), route)));
            }
        }
        out
    }

    /// Whether every backend of a converted rule is a Service port of networking/.
    fn backends_resolve(&self, route: &HttpRoute, ns: &str) -> bool {
        route.route.iter().all(|d| {
            self.registry
                .resolve(&d.destination.host, ns)
                .is_some_and(|res| {
                    d.destination.port.as_ref().is_some_and(|p| {
                        res.service.spec.ports.iter().any(|sp| sp.port == p.number)
                    })
                })
        })
    }

    /// The hosts an HTTPRoute serves through the listeners it attaches to; a parentRef
    /// no listener accepts is an error (Gateway API: `Accepted: False`).
    fn attached_hosts(&mut self, o: &Loaded, hr: &ApiRoute) -> Vec<String> {
        let ns = namespace_of(&hr.metadata.namespace);
        let mut hosts: Vec<String> = Vec::new();
        for (pi, p) in hr.spec.parent_refs.iter().enumerate() {
            let gw_ns = p.namespace.as_deref().unwrap_or(ns);
            // A missing Gateway, a foreign class or a non-Gateway parent: `analyze` reports it.
            let Some(gw) = self.registry.api_gateway(&p.name, gw_ns) else {
                continue;
            };
            if !p.is_gateway() || gw.spec.gateway_class_name != gateway_api::ISTIO_CLASS {
                continue;
            }
            let accepting: Vec<&Listener> = gw
                .spec
                .listeners
                .iter()
                .filter(|l| p.section_name.as_ref().is_none_or(|s| *s == l.name))
                .filter(|l| p.port.is_none_or(|port| port == l.port))
                .filter(|l| accepts(gw, l, ns))
                .collect();
            if accepting.is_empty() {
                self.findings.push(
                    Severity::Error,
                    o,
                    format!(
                        "spec.parentRefs[{pi}]: no listener of Gateway {:?} accepts this route (check sectionName, port and the listener's allowedRoutes)",
                        p.name
                    ),
                );
                continue;
            }
            let before = hosts.len();
            for l in accepting {
                for h in route_hosts(&hr.spec.hostnames, l.hostname.as_deref()) {
                    if !hosts.contains(&h) {
                        hosts.push(h);
                    }
                }
            }
            if hosts.len() == before && !hr.spec.hostnames.is_empty() {
                self.findings.push(
                    Severity::Error,
                    o,
                    format!(
                        "spec.hostnames {:?}: none matches a listener hostname of Gateway {:?} (parentRefs[{pi}])",
                        hr.spec.hostnames, p.name
                    ),
                );
            }
        }
        hosts
    }
}

/// `allowedRoutes`: the route's namespace and kind.
fn accepts(gw: &Gateway, l: &Listener, route_ns: &str) -> bool {
    let ns_ok = match l.allowed_routes.namespaces.from {
        FromNamespaces::All => true,
        FromNamespaces::Same => namespace_of(&gw.metadata.namespace) == route_ns,
    };
    let kinds = &l.allowed_routes.kinds;
    let kind_ok = kinds.is_empty()
        || kinds.iter().any(|k| {
            k.kind == "HTTPRoute"
                && k.group.as_deref().unwrap_or(gateway_api::GROUP) == gateway_api::GROUP
        });
    ns_ok && kind_ok
}

/// The hosts of a route on one listener: its hostnames intersected with the listener's
/// (Gateway API hostname matching; `*.x` is a wildcard label).
fn route_hosts(hostnames: &[String], listener: Option<&str>) -> Vec<String> {
    let Some(lh) = listener else {
        return if hostnames.is_empty() {
            vec!["*".into()]
        } else {
            hostnames.to_vec()
        };
    };
    if hostnames.is_empty() {
        return vec![lh.to_string()];
    }
    let covers = |wild: &str, host: &str| {
        wild.strip_prefix('*')
            .is_some_and(|suffix| host.ends_with(suffix) && host.len() > suffix.len())
    };
    hostnames
        .iter()
        .filter_map(|h| {
            if h == lh || covers(lh, h) {
                Some(h.clone())
            } else if covers(h, lh) {
                Some(lh.to_string())
            } else {
                None
            }
        })
        .collect()
}

/// A rule's backends, filters and timeout as the route model; Err is a field path
/// (relative to the rule) and what is wrong.
fn convert_rule(rule: &Rule, ns: &str) -> Result<HttpRoute, Untranslatable> {
    if rule.backend_refs.is_empty() {
        return Err(".backendRefs: a rule needs at least one backendRef (without one Gateway API answers 500; redirects are not translated)".into());
    }
    let mut route = Vec::new();
    for (bi, b) in rule.backend_refs.iter().enumerate() {
        let at = format!(".backendRefs[{bi}]");
        if !b.is_service() {
            return Err(Untranslatable(format!(
                "{at}: group {:?} kind {:?}: only core Services are translated",
                b.group.as_deref().unwrap_or(""),
                b.kind.as_deref().unwrap_or("Service")
            )));
        }
        if b.namespace.as_deref().is_some_and(|n| n != ns) {
            return Err(Untranslatable(format!("{at}.namespace: a backend in another namespace needs a ReferenceGrant, which is not translated")));
        }
        if b.weight() > MAX_WEIGHT {
            return Err(Untranslatable(format!(
                "{at}.weight {}: at most {MAX_WEIGHT} (Gateway API)",
                b.weight()
            )));
        }
        let Some(port) = b.port else {
            return Err(Untranslatable(format!(
                "{at}.port: required for a Service backend"
            )));
        };
        route.push(RouteDestination {
            destination: Destination {
                host: b.name.clone(),
                subset: None,
                port: Some(PortSelector { number: port }),
            },
            weight: Some(b.weight()),
            headers: None,
        });
    }
    let mut headers = Headers::default();
    let mut rewrite: Option<Rewrite> = None;
    let mut seen = BTreeSet::new();
    for (fi, f) in rule.filters.iter().enumerate() {
        let at = format!(".filters[{fi}]");
        if !seen.insert(format!("{:?}", f.kind)) {
            return Err(Untranslatable(format!(
                "{at}.type: {:?} is given twice in one rule",
                f.kind
            )));
        }
        let given = [
            f.request_header_modifier.is_some(),
            f.response_header_modifier.is_some(),
            f.url_rewrite.is_some(),
        ];
        let wanted = match f.kind {
            FilterType::RequestHeaderModifier => 0,
            FilterType::ResponseHeaderModifier => 1,
            FilterType::UrlRewrite => 2,
        };
        if given.iter().enumerate().any(|(i, g)| *g != (i == wanted)) {
            return Err(Untranslatable(format!(
                "{at}: type {:?} needs exactly its own field (requestHeaderModifier, responseHeaderModifier or urlRewrite)",
                f.kind
            )));
        }
        if let Some(m) = &f.request_header_modifier {
            headers.request = Some(header_ops(m));
        }
        if let Some(m) = &f.response_header_modifier {
            headers.response = Some(header_ops(m));
        }
        if let Some(u) = &f.url_rewrite {
            rewrite = Some(url_rewrite(u, rule, &at)?);
        }
    }
    let timeout = match rule.timeouts.as_ref().and_then(|t| t.request.as_deref()) {
        None => None,
        Some(t) => Some(format!(
            "{}ms",
            duration_ms(t).map_err(|e| format!(".timeouts.request: {e}"))?
        )),
    };
    Ok(HttpRoute {
        route,
        timeout,
        rewrite,
        headers: (headers.request.is_some() || headers.response.is_some()).then_some(headers),
        ..HttpRoute::default()
    })
}

/// `URLRewrite`: hostname → authority, `ReplacePrefixMatch` → prefix rewrite (only after
/// `PathPrefix` matches, as the Gateway API requires).
fn url_rewrite(
    u: &gateway_api::UrlRewrite,
    rule: &Rule,
    at: &str,
) -> Result<Rewrite, Untranslatable> {
    let uri = match &u.path {
        None => None,
        Some(p) => {
            let Some(value) = &p.replace_prefix_match else {
                return Err(Untranslatable(format!(
                    "{at}.urlRewrite.path.replacePrefixMatch: required for type ReplacePrefixMatch"
                )));
            };
            let prefix_only = !rule.matches.is_empty()
                && rule.matches.iter().all(|m| {
                    m.path
                        .as_ref()
                        .is_some_and(|p| p.kind == PathMatchType::PathPrefix && p.value != "/")
                });
            if !prefix_only {
                return Err(Untranslatable(format!("{at}.urlRewrite.path: ReplacePrefixMatch needs every match of the rule to be a PathPrefix other than \"/\"")));
            }
            if value == "/" {
                return Err(Untranslatable(format!("{at}.urlRewrite.path.replacePrefixMatch: \"/\" (strip the prefix) is not translated by the local mesh")));
            }
            Some(value.clone())
        }
    };
    Ok(Rewrite {
        uri,
        authority: u.hostname.clone(),
    })
}

fn header_ops(m: &gateway_api::HeaderModifier) -> HeaderOps {
    let map = |hs: &[gateway_api::Header]| {
        hs.iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    HeaderOps {
        set: map(&m.set),
        add: map(&m.add),
        remove: m.remove.iter().map(|h| h.to_ascii_lowercase()).collect(),
    }
}

/// One Gateway API match as the route model's match; Err is a relative field path.
fn convert_match(m: &gateway_api::RouteMatch) -> Result<HttpMatch, Untranslatable> {
    let uri = match &m.path {
        None => Some(StringMatch::Prefix("/".into())),
        Some(p) => {
            if p.kind != PathMatchType::RegularExpression && !p.value.starts_with('/') {
                return Err(Untranslatable(format!(
                    ".path.value {:?}: a path starts with \"/\"",
                    p.value
                )));
            }
            Some(match p.kind {
                PathMatchType::Exact => StringMatch::Exact(p.value.clone()),
                PathMatchType::PathPrefix => StringMatch::Prefix(p.value.clone()),
                PathMatchType::RegularExpression => StringMatch::Regex(p.value.clone()),
            })
        }
    };
    // Gateway API: of entries with the same name only the first counts (header names
    // case-insensitively).
    let values = |list: &[ValueMatch], fold: bool| {
        let mut out = BTreeMap::new();
        for v in list {
            let name = if fold {
                v.name.to_ascii_lowercase()
            } else {
                v.name.clone()
            };
            out.entry(name).or_insert_with(|| match v.kind {
                ValueMatchType::Exact => StringMatch::Exact(v.value.clone()),
                ValueMatchType::RegularExpression => StringMatch::Regex(v.value.clone()),
            });
        }
        out
    };
    Ok(HttpMatch {
        uri,
        method: m.method.clone().map(StringMatch::Exact),
        headers: values(&m.headers, true),
        query_params: values(&m.query_params, false),
        ..HttpMatch::default()
    })
}
