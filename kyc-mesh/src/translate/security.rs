//! PeerAuthentication and AuthorizationPolicy → a sidecar inbound's mTLS mode and RBAC,
//! with Istio's semantics:
//!
//! - **PeerAuthentication**: the workload's own policy (same namespace, `selector`
//!   matching its labels; `portLevelMtls` for its container port first) over the
//!   namespace's (no selector) over the mesh's (no selector, in the root namespace
//!   `istio-system`, Istio's default `rootNamespace`); `UNSET` inherits; PERMISSIVE when
//!   nothing sets a mode. Several at one level: the first in file order (Istio: the oldest).
//! - **RequestAuthentication**: the JWT rules of those of the workload's namespace and of the
//!   root namespace whose selector matches it, sorted by issuer → one `jwt_authn` provider
//!   each (`envoy::jwt_authn`, istiod's `policy_applier.go`). A request without a token passes
//!   it; a token that is present must be valid (else 401, Envoy's message). The keys must be
//!   inline (`jwks`): nothing fetches a `jwksUri` locally.
//! - **AuthorizationPolicy**: those of the workload's namespace and of the root namespace
//!   whose selector matches it (none = all workloads there). DENY before ALLOW; with an
//!   ALLOW policy, a request no rule allows gets `403 RBAC: access denied`; a policy
//!   without rules allows nothing. CUSTOM and AUDIT are refused (no external authorizer,
//!   no audit sink locally). `requestPrincipals` (`<iss>/<sub>`) and the `request.auth.*`
//!   conditions match the verified token's payload in the dynamic metadata, as istiod's
//!   `authz/model/generator.go` builds them.

use std::collections::BTreeMap;

use crate::analyze::{Code, Severity};
use crate::envoy::jwt_authn::{
    ClaimToHeader, DataSource, FromHeader, JwtAuthentication, JwtProvider, NormalizePayload,
    JWT_AUTHN_FILTER, PAYLOAD_IN_METADATA,
};
use crate::envoy::listener::{InboundMtls, RBAC_ALLOW_FILTER, RBAC_DENY_FILTER};
use crate::envoy::matcher::{MetadataMatcher, PathSegment, ValueMatcher};
use crate::envoy::rbac::{Permission, Policy, Principal, Rbac, RbacAction, RbacPerRoute, Rules};
use crate::envoy::route::{HeaderMatcher, PerFilterConfig, RegexMatcher, StringMatcher};
use crate::envoy::Any;
use crate::identity::{SpiffeId, TRUST_DOMAIN};
use crate::istio::{
    namespace_of, Action, Condition, Loaded, MtlsMode, Operation, Rule, Source, WorkloadSelector,
    ROOT_NAMESPACE,
};
use crate::topology::{Workload, CONTAINER_PORT};

use super::Ctx;

pub(super) fn selects(selector: &Option<WorkloadSelector>, w: &Workload) -> bool {
    selector
        .as_ref()
        .is_none_or(|s| w.selected_by(&s.match_labels))
}

/// Istio's value syntax: `*` (present), `pre*`, `*suf`, or exact.
fn istio_match(v: &str, exact_prefix: &str) -> StringMatcher {
    if v == "*" {
        StringMatcher::SafeRegex(RegexMatcher { regex: ".+".into() })
    } else if let Some(p) = v.strip_suffix('*') {
        StringMatcher::Prefix(format!("{exact_prefix}{p}"))
    } else if let Some(s) = v.strip_prefix('*') {
        StringMatcher::Suffix(s.to_string())
    } else {
        StringMatcher::Exact(format!("{exact_prefix}{v}"))
    }
}

pub(super) fn any_of<T>(items: Vec<T>, or: fn(Vec<T>) -> T) -> Option<T> {
    match items.len() {
        0 => None,
        1 => items.into_iter().next(),
        _ => Some(or(items)),
    }
}

pub(super) fn all_of<T>(items: Vec<T>, and: fn(Vec<T>) -> T, any: T) -> T {
    match items.len() {
        0 => any,
        1 => items.into_iter().next().unwrap_or(any),
        _ => and(items),
    }
}

fn principal(p: &str) -> Principal {
    Principal::Authenticated(istio_match(p, "spiffe://"))
}

fn namespace(ns: &str) -> Principal {
    let regex = match ns {
        "*" => ".+".to_string(),
        _ => format!("spiffe://{TRUST_DOMAIN}/ns/{}/.*", ns.replace('.', "\\.")),
    };
    Principal::Authenticated(StringMatcher::SafeRegex(RegexMatcher { regex }))
}

pub(super) fn source(s: &Source) -> Principal {
    let mut all = Vec::new();
    let list = |v: &[String], f: fn(&str) -> Principal| {
        any_of(v.iter().map(|x| f(x)).collect(), Principal::Or)
    };
    all.extend(list(&s.principals, principal));
    all.extend(list(&s.not_principals, principal).map(|p| Principal::Not(Box::new(p))));
    all.extend(list(&s.request_principals, request_principal));
    all.extend(
        list(&s.not_request_principals, request_principal).map(|p| Principal::Not(Box::new(p))),
    );
    all.extend(list(&s.namespaces, namespace));
    all.extend(list(&s.not_namespaces, namespace).map(|p| Principal::Not(Box::new(p))));
    all_of(all, Principal::And, Principal::Any)
}

/// A claim of the verified token's payload (`path`: `iss`, or nested `a`, `b`).
fn claim(path: &[&str], value: ValueMatcher) -> Principal {
    let mut segments = vec![PathSegment {
        key: PAYLOAD_IN_METADATA.into(),
    }];
    segments.extend(path.iter().map(|k| PathSegment { key: k.to_string() }));
    Principal::Metadata(MetadataMatcher {
        filter: JWT_AUTHN_FILTER,
        path: segments,
        value,
    })
}

fn any_string() -> StringMatcher {
    StringMatcher::SafeRegex(RegexMatcher { regex: ".+".into() })
}

/// A `requestPrincipals` value, `<iss>/<sub>` split at the last `/` (an issuer may be a URL),
/// with Istio's wildcards: `*`, `*<suffix>`, `<prefix>*`.
fn request_principal(v: &str) -> Principal {
    let (iss, sub) = match v.rfind('/') {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let (m_iss, m_sub) = if v == "*" {
        (any_string(), any_string())
    } else if let Some(rest) = v.strip_prefix('*') {
        match sub {
            Some(sub) if iss == "*" => (any_string(), StringMatcher::Exact(sub.into())),
            Some(sub) => (
                StringMatcher::Suffix(iss.trim_start_matches('*').into()),
                StringMatcher::Exact(sub.into()),
            ),
            None => (any_string(), StringMatcher::Suffix(rest.into())),
        }
    } else if let Some(rest) = v.strip_suffix('*') {
        match sub {
            Some("*") => (StringMatcher::Exact(iss.into()), any_string()),
            Some(sub) => (
                StringMatcher::Exact(iss.into()),
                StringMatcher::Prefix(sub.trim_end_matches('*').into()),
            ),
            None => (StringMatcher::Prefix(rest.into()), any_string()),
        }
    } else {
        (
            StringMatcher::Exact(iss.into()),
            StringMatcher::Exact(sub.unwrap_or("").into()),
        )
    };
    Principal::And(vec![
        claim(&["iss"], ValueMatcher::String(m_iss)),
        claim(&["sub"], ValueMatcher::String(m_sub)),
    ])
}

/// A claim that may be a string or a list: matches when it (or one of its elements) is one
/// of `values` (istiod's `MetadataListValueMatcher` with the extended JWT form).
fn claim_values(path: &[&str], values: &[String]) -> Principal {
    let strings: Vec<ValueMatcher> = values
        .iter()
        .map(|v| ValueMatcher::String(istio_match(v, "")))
        .collect();
    let one = match strings.len() {
        1 => strings
            .into_iter()
            .next()
            .unwrap_or(ValueMatcher::Or(Vec::new())),
        _ => ValueMatcher::Or(strings),
    };
    claim(
        path,
        ValueMatcher::Or(vec![ValueMatcher::ListOneOf(Box::new(one.clone())), one]),
    )
}

/// `[a]` or `[a][b]…` after `request.auth.claims`: the claim's path.
fn claim_path(rest: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let name = &inner[..end];
        if name.is_empty() || name.contains('[') {
            return None;
        }
        out.push(name);
        rest = &inner[end + 1..];
    }
    (!out.is_empty()).then_some(out)
}

/// A `when` condition: on the request (a permission) or on who sent it (a principal).
enum Matched {
    Permission(Permission),
    Principal(Principal),
}

pub(super) fn method(m: &str) -> Permission {
    Permission::Header(HeaderMatcher {
        name: ":method".into(),
        string_match: StringMatcher::Exact(m.to_string()),
        invert_match: false,
    })
}

pub(super) fn path(p: &str) -> Permission {
    Permission::UrlPath(istio_match(p, ""))
}

impl Ctx<'_> {
    /// What workload `w`'s inbound accepts.
    pub(super) fn inbound_mtls(&mut self, w: &Workload) -> InboundMtls {
        let mut workload = None;
        let mut ns_mode = MtlsMode::Unset;
        let mut mesh_mode = MtlsMode::Unset;
        for (o, pa) in self.registry.peer_authentications.clone() {
            let pa_ns = namespace_of(&pa.metadata.namespace);
            let own = pa.spec.mtls.as_ref().map_or(MtlsMode::Unset, |m| m.mode);
            match &pa.spec.selector {
                Some(sel) if pa_ns == w.namespace && w.selected_by(&sel.match_labels) => {
                    let port = pa.spec.port_level_mtls.get(&CONTAINER_PORT).map(|m| m.mode);
                    let mode = port.filter(|m| *m != MtlsMode::Unset).unwrap_or(own);
                    workload.get_or_insert(mode);
                }
                Some(_) => {}
                None => {
                    if !pa.spec.port_level_mtls.is_empty() {
                        self.findings.push(Severity::Warning, o, "spec.portLevelMtls needs a `selector` (Istio ignores it on a namespace- or mesh-wide policy)".into());
                    }
                    if pa_ns == w.namespace && ns_mode == MtlsMode::Unset {
                        ns_mode = own;
                    } else if pa_ns == ROOT_NAMESPACE && mesh_mode == MtlsMode::Unset {
                        mesh_mode = own;
                    }
                }
            }
        }
        let chosen = [workload.unwrap_or(MtlsMode::Unset), ns_mode, mesh_mode]
            .into_iter()
            .find(|m| *m != MtlsMode::Unset)
            .unwrap_or(MtlsMode::Permissive);
        match chosen {
            MtlsMode::Strict => InboundMtls::Strict,
            MtlsMode::Disable => InboundMtls::Disable,
            MtlsMode::Permissive | MtlsMode::Unset => InboundMtls::Permissive,
        }
    }

    /// The RBAC filters' configuration for workload `w`'s inbound route (empty: no policy).
    pub(super) fn inbound_rbac(&mut self, w: &Workload) -> BTreeMap<&'static str, PerFilterConfig> {
        let mut deny = BTreeMap::new();
        let mut allow = BTreeMap::new();
        let mut any_allow = false;
        for (o, ap) in self.registry.authorization_policies.clone() {
            let ns = namespace_of(&ap.metadata.namespace);
            if (ns != w.namespace && ns != ROOT_NAMESPACE) || !selects(&ap.spec.selector, w) {
                continue;
            }
            if !ap.spec.target_refs.is_empty() {
                continue; // a waypoint's (`waypoint.rs`), not a sidecar's
            }
            let target = match ap.spec.action {
                Action::Allow => &mut allow,
                Action::Deny => &mut deny,
                a @ (Action::Custom | Action::Audit) => {
                    self.findings.push(Severity::Error, o, format!("spec.action {}: not translated by the local mesh ({}); use ALLOW or DENY, or the minikube + Istio path", if a == Action::Custom { "CUSTOM" } else { "AUDIT" }, if a == Action::Custom { "it needs an external authorizer (extensionProviders)" } else { "it needs an audit provider" }));
                    continue;
                }
            };
            if ap.spec.provider.is_some() {
                self.findings.push(Severity::Error, o, "spec.provider: only for action CUSTOM, which the local mesh does not translate".into());
                continue;
            }
            any_allow |= ap.spec.action == Action::Allow;
            for (i, rule) in ap.spec.rules.iter().enumerate() {
                match self.rule(o, w, i, rule) {
                    Some(policy) => {
                        let name = format!("ns[{ns}]-policy[{}]-rule[{i}]", ap.metadata.name);
                        target.insert(name, policy);
                    }
                    None => continue,
                }
            }
        }
        let per_route = |action, policies| {
            PerFilterConfig::Rbac(Any::new(RbacPerRoute {
                rbac: Some(Rbac {
                    rules: Rules { action, policies },
                }),
            }))
        };
        let mut out = BTreeMap::new();
        if !deny.is_empty() {
            out.insert(RBAC_DENY_FILTER, per_route(RbacAction::Deny, deny));
        }
        if any_allow {
            out.insert(RBAC_ALLOW_FILTER, per_route(RbacAction::Allow, allow));
        }
        out
    }

    /// One rule: (any `from`) and (any `to`) and (every `when`).
    fn rule(&mut self, o: &Loaded, w: &Workload, i: usize, rule: &Rule) -> Option<Policy> {
        let mut perms = Vec::new();
        let ops: Vec<Permission> = rule
            .to
            .iter()
            .enumerate()
            .map(|(j, to)| self.operation(o, w, i, j, &to.operation))
            .collect::<Option<_>>()?;
        perms.extend(any_of(ops, Permission::Or));
        let mut whom = Vec::new();
        for (j, c) in rule.when.iter().enumerate() {
            match self.condition(o, i, j, c)? {
                Matched::Permission(p) => perms.push(p),
                Matched::Principal(p) => whom.push(p),
            }
        }
        let sources = rule.from.iter().map(|f| source(&f.source)).collect();
        whom.insert(0, any_of(sources, Principal::Or).unwrap_or(Principal::Any));
        whom.retain(|p| *p != Principal::Any);
        Some(Policy {
            permissions: vec![all_of(perms, Permission::And, Permission::Any)],
            principals: vec![all_of(whom, Principal::And, Principal::Any)],
        })
    }

    fn operation(
        &mut self,
        o: &Loaded,
        w: &Workload,
        i: usize,
        j: usize,
        op: &Operation,
    ) -> Option<Permission> {
        let mut ports = Vec::new();
        for (list, not) in [(&op.ports, false), (&op.not_ports, true)] {
            let mut parsed = Vec::new();
            for p in list {
                let Ok(n) = p.parse::<u16>() else {
                    let f = if not { "notPorts" } else { "ports" };
                    self.findings.push(
                        Severity::Error,
                        o,
                        format!(
                            "spec.rules[{i}].to[{j}].operation.{f}: {p:?} is not a port number"
                        ),
                    );
                    return None;
                };
                // The container port is the sidecar inbound's local port here.
                parsed.push(Permission::DestinationPort(if n == CONTAINER_PORT {
                    w.port
                } else {
                    n
                }));
            }
            if let Some(p) = any_of(parsed, Permission::Or) {
                ports.push(if not { Permission::Not(Box::new(p)) } else { p });
            }
        }
        let mut all = Vec::new();
        let list = |v: &[String], f: fn(&str) -> Permission| {
            any_of(v.iter().map(|x| f(x)).collect(), Permission::Or)
        };
        all.extend(list(&op.methods, method));
        all.extend(list(&op.not_methods, method).map(|p| Permission::Not(Box::new(p))));
        all.extend(list(&op.paths, path));
        all.extend(list(&op.not_paths, path).map(|p| Permission::Not(Box::new(p))));
        all.extend(ports);
        Some(all_of(all, Permission::And, Permission::Any))
    }

    fn condition(&mut self, o: &Loaded, i: usize, j: usize, c: &Condition) -> Option<Matched> {
        let on_token = |path: Vec<&str>| {
            let mut all = Vec::new();
            if !c.values.is_empty() {
                all.push(claim_values(&path, &c.values));
            }
            if !c.not_values.is_empty() {
                all.push(Principal::Not(Box::new(claim_values(&path, &c.not_values))));
            }
            Matched::Principal(all_of(all, Principal::And, Principal::Any))
        };
        match c.key.as_str() {
            "request.auth.principal" => {
                let mut all = Vec::new();
                let list = |v: &[String]| {
                    any_of(
                        v.iter().map(|x| request_principal(x)).collect(),
                        Principal::Or,
                    )
                };
                all.extend(list(&c.values));
                all.extend(list(&c.not_values).map(|p| Principal::Not(Box::new(p))));
                return Some(Matched::Principal(all_of(
                    all,
                    Principal::And,
                    Principal::Any,
                )));
            }
            "request.auth.audiences" => return Some(on_token(vec!["aud"])),
            "request.auth.presenter" => return Some(on_token(vec!["azp"])),
            _ => {}
        }
        if let Some(rest) = c.key.strip_prefix("request.auth.claims") {
            return match claim_path(rest) {
                Some(path) => Some(on_token(path)),
                None => {
                    self.findings.push(Severity::Error, o, format!("spec.rules[{i}].when[{j}].key {:?}: expected request.auth.claims[NAME] (or [NAME][NESTED]…)", c.key));
                    None
                }
            };
        }
        let header = c
            .key
            .strip_prefix("request.headers[")
            .and_then(|k| k.strip_suffix(']'))
            .filter(|k| !k.is_empty());
        let Some(name) = header else {
            self.findings.push(Severity::Error, o, format!("spec.rules[{i}].when[{j}].key {:?} is not translated by the local mesh (only request.headers[NAME], request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[NAME])", c.key));
            return None;
        };
        let matcher = |v: &String| {
            Permission::Header(HeaderMatcher {
                name: name.to_ascii_lowercase(),
                string_match: istio_match(v, ""),
                invert_match: false,
            })
        };
        let mut all = Vec::new();
        all.extend(any_of(
            c.values.iter().map(matcher).collect(),
            Permission::Or,
        ));
        if let Some(not) = any_of(c.not_values.iter().map(matcher).collect(), Permission::Or) {
            all.push(Permission::Not(Box::new(not)));
        }
        Some(Matched::Permission(all_of(
            all,
            Permission::And,
            Permission::Any,
        )))
    }

    /// Workload `w`'s inbound token verification (`None`: no RequestAuthentication applies).
    /// Invalid rules were reported by [`Ctx::check_security`] (and fail the translation).
    pub(super) fn inbound_jwt(&self, w: &Workload) -> Option<JwtAuthentication> {
        let providers: Vec<JwtProvider> = self
            .registry
            .jwt_rules_for(w)
            .into_iter()
            .filter_map(|r| {
                let mut claims: Vec<String> = r.space_delimited_claims.clone().unwrap_or_default();
                claims.extend(["permission".to_string(), "scope".to_string()]);
                claims.sort();
                claims.dedup();
                Some(JwtProvider {
                    issuer: r.issuer.clone(),
                    audiences: r.audiences.clone(),
                    local_jwks: DataSource {
                        inline_string: r.jwks.clone()?,
                    },
                    forward: r.forward_original_token,
                    from_headers: r
                        .from_headers
                        .iter()
                        .map(|h| FromHeader {
                            name: h.name.clone(),
                            value_prefix: h.prefix.clone(),
                        })
                        .collect(),
                    from_params: r.from_params.clone(),
                    from_cookies: r.from_cookies.clone(),
                    forward_payload_header: r.output_payload_to_header.clone(),
                    payload_in_metadata: PAYLOAD_IN_METADATA,
                    normalize_payload_in_metadata: NormalizePayload {
                        space_delimited_claims: claims,
                    },
                    claim_to_headers: r
                        .output_claim_to_headers
                        .iter()
                        .map(|c| ClaimToHeader {
                            header_name: c.header.to_ascii_lowercase(),
                            claim_name: c.claim.clone(),
                        })
                        .collect(),
                })
            })
            .collect();
        (!providers.is_empty()).then(|| JwtAuthentication::new(providers))
    }

    /// `check` on the RequestAuthentications: what the local mesh cannot honour, named by field.
    fn check_request_authentications(&mut self) {
        for (o, ra) in self.registry.request_authentications.clone() {
            if self.plan.edge_only {
                self.findings.push(Severity::Error, o, "no sidecars in this mesh (`up --no-sidecars` or --external-services): nothing would verify tokens (Istio verifies them in the workload's sidecar) and the AuthorizationPolicies on `requestPrincipals` would not apply; run `kyc-mesh up` with its sidecars (the default)".into());
            }
            if ra.spec.jwt_rules.is_empty() {
                self.findings.push(Severity::Warning, o, "spec.jwtRules is empty: no token is verified (Istio accepts it and does nothing)".into());
            }
            let mut issuers = Vec::new();
            for (i, r) in ra.spec.jwt_rules.iter().enumerate() {
                let at = format!("spec.jwtRules[{i}]");
                let mut bad = |field: &str, message: String| {
                    self.findings
                        .push(Severity::Error, o, format!("{at}.{field}: {message}"));
                };
                if r.issuer.trim().is_empty() {
                    bad("issuer", "required (the `iss` a token must carry)".into());
                }
                if issuers.contains(&r.issuer) {
                    bad(
                        "issuer",
                        format!(
                            "{:?} is already in another rule of this RequestAuthentication",
                            r.issuer
                        ),
                    );
                }
                issuers.push(r.issuer.clone());
                if r.jwks_uri.is_some() {
                    bad("jwksUri", "not translated by the local mesh (nothing fetches keys here; istiod does in the cluster): put the keys inline in `jwks` (`kyc-mesh token --jwks` prints the demo keys), or use the minikube + Istio path".into());
                } else if r.timeout.is_some() {
                    bad("timeout", "only means something with `jwksUri`".into());
                }
                match &r.jwks {
                    None if r.jwks_uri.is_none() => bad("jwks", "required by the local mesh: the issuer's public keys inline, as a JWKS document (`{\"keys\": [...]}`)".into()),
                    None => {}
                    Some(text) => {
                        if let Err(e) = check_jwks(text) {
                            bad("jwks", e);
                        }
                    }
                }
                for (j, h) in r.from_headers.iter().enumerate() {
                    if h.name.trim().is_empty() {
                        bad(&format!("fromHeaders[{j}].name"), "required".into());
                    }
                }
                let mut seen = Vec::new();
                for (j, c) in r.output_claim_to_headers.iter().enumerate() {
                    let h = c.header.to_ascii_lowercase();
                    if h.is_empty() || c.claim.is_empty() {
                        bad(
                            &format!("outputClaimToHeaders[{j}]"),
                            "needs both `header` and `claim`".into(),
                        );
                    } else if seen.contains(&h) {
                        bad(
                            &format!("outputClaimToHeaders[{j}].header"),
                            format!("{h:?} is used twice (Istio requires each header once)"),
                        );
                    }
                    seen.push(h);
                }
            }
        }
    }

    /// `check` on the security kinds, once per translation (with or without sidecars):
    /// a selector that matches no pod (IST0127), an exact principal no proxy of the mesh
    /// has, a namespace no workload lives in (IST0101).
    pub(super) fn check_security(&mut self) {
        self.check_request_authentications();
        let mut known: Vec<String> = self
            .topology
            .workloads
            .iter()
            .map(|w| {
                SpiffeId::new(&w.namespace, &w.service_account)
                    .principal()
                    .to_string()
            })
            .collect();
        known.push(SpiffeId::ingress_gateway().principal().to_string());
        // Ambient mode's waypoints have an identity too (their Gateway's name).
        known.extend(
            self.registry
                .api_gateways
                .iter()
                .filter(|(_, g)| crate::ambient::is_waypoint(g))
                .map(|(_, g)| {
                    SpiffeId::new(namespace_of(&g.metadata.namespace), &g.metadata.name)
                        .principal()
                        .to_string()
                }),
        );
        let mut namespaces: Vec<String> = self
            .topology
            .workloads
            .iter()
            .map(|w| w.namespace.clone())
            .collect();
        namespaces.push(ROOT_NAMESPACE.to_string());
        let selectors: Vec<(&Loaded, Option<WorkloadSelector>)> = self
            .registry
            .peer_authentications
            .iter()
            .map(|(o, p)| (*o, p.spec.selector.clone()))
            .chain(
                self.registry
                    .authorization_policies
                    .iter()
                    .map(|(o, p)| (*o, p.spec.selector.clone())),
            )
            .chain(
                self.registry
                    .request_authentications
                    .iter()
                    .map(|(o, p)| (*o, p.spec.selector.clone())),
            )
            .collect();
        for (o, sel) in selectors {
            if let Some(sel) = sel {
                if !self
                    .topology
                    .workloads
                    .iter()
                    .any(|w| w.selected_by(&sel.match_labels))
                {
                    self.findings.push_coded(
                        Severity::Warning,
                        o,
                        format!(
                            "spec.selector {:?} matches no pod of the mesh",
                            sel.match_labels
                        ),
                        Some(Code::NoMatchingWorkloadsFound),
                    );
                }
            }
        }
        for (o, ap) in self.registry.authorization_policies.clone() {
            for src in ap
                .spec
                .rules
                .iter()
                .flat_map(|r| r.from.iter().map(|f| &f.source))
            {
                for p in src.principals.iter().chain(&src.not_principals) {
                    if !p.contains('*') && !known.contains(p) {
                        self.findings.push_coded(
                            Severity::Warning,
                            o,
                            format!(
                                "principal {p:?} is no identity of the mesh (known: {})",
                                known.join(", ")
                            ),
                            Some(Code::ReferencedResourceNotFound),
                        );
                    }
                }
                for ns in src.namespaces.iter().chain(&src.not_namespaces) {
                    if !ns.contains('*') && !namespaces.contains(ns) {
                        self.findings.push_coded(
                            Severity::Warning,
                            o,
                            format!("namespace {ns:?} has no workload of the mesh"),
                            Some(Code::ReferencedResourceNotFound),
                        );
                    }
                }
            }
        }
    }
}

/// What Envoy needs of an inline JWKS: a JSON object whose `keys` is a non-empty list of keys,
/// each with a `kty`. (Envoy would accept a broken one and answer 401 to every token.)
fn check_jwks(text: &str) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("not JSON ({e}); expected a JWKS document `{{\"keys\": [...]}}`"))?;
    let keys = v
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("not a JWKS document: expected an object with a `keys` list")?;
    if keys.is_empty() {
        return Err("`keys` is empty: no token could be verified".into());
    }
    for (i, k) in keys.iter().enumerate() {
        let kty = k.get("kty").and_then(|t| t.as_str()).unwrap_or("");
        if !matches!(kty, "RSA" | "EC" | "oct" | "OKP") {
            return Err(format!(
                "keys[{i}]: `kty` must be RSA, EC, oct or OKP (got {kty:?})"
            ));
        }
        if kty == "RSA" && (k.get("n").is_none() || k.get("e").is_none()) {
            return Err(format!("keys[{i}]: an RSA key needs `n` and `e`"));
        }
    }
    Ok(())
}
