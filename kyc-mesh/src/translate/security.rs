//! PeerAuthentication and AuthorizationPolicy → a sidecar inbound's mTLS mode and RBAC,
//! with Istio's semantics:
//!
//! - **PeerAuthentication**: the workload's own policy (same namespace, `selector`
//!   matching its labels; `portLevelMtls` for its container port first) over the
//!   namespace's (no selector) over the mesh's (no selector, in the root namespace
//!   `istio-system`, Istio's default `rootNamespace`); `UNSET` inherits; PERMISSIVE when
//!   nothing sets a mode. Several at one level: the first in file order (Istio: the oldest).
//! - **AuthorizationPolicy**: those of the workload's namespace and of the root namespace
//!   whose selector matches it (none = all workloads there). DENY before ALLOW; with an
//!   ALLOW policy, a request no rule allows gets `403 RBAC: access denied`; a policy
//!   without rules allows nothing. CUSTOM and AUDIT are refused (no external authorizer,
//!   no audit sink locally).

use std::collections::BTreeMap;

use crate::analyze::{Code, Severity};
use crate::envoy::listener::{InboundMtls, RBAC_ALLOW_FILTER, RBAC_DENY_FILTER};
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

fn selects(selector: &Option<WorkloadSelector>, w: &Workload) -> bool {
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

fn any_of<T>(items: Vec<T>, or: fn(Vec<T>) -> T) -> Option<T> {
    match items.len() {
        0 => None,
        1 => items.into_iter().next(),
        _ => Some(or(items)),
    }
}

fn all_of<T>(items: Vec<T>, and: fn(Vec<T>) -> T, any: T) -> T {
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

fn source(s: &Source) -> Principal {
    let mut all = Vec::new();
    let list = |v: &[String], f: fn(&str) -> Principal| {
        any_of(v.iter().map(|x| f(x)).collect(), Principal::Or)
    };
    all.extend(list(&s.principals, principal));
    all.extend(list(&s.not_principals, principal).map(|p| Principal::Not(Box::new(p))));
    all.extend(list(&s.namespaces, namespace));
    all.extend(list(&s.not_namespaces, namespace).map(|p| Principal::Not(Box::new(p))));
    all_of(all, Principal::And, Principal::Any)
}

fn method(m: &str) -> Permission {
    Permission::Header(HeaderMatcher {
        name: ":method".into(),
        string_match: StringMatcher::Exact(m.to_string()),
        invert_match: false,
    })
}

fn path(p: &str) -> Permission {
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
        for (j, c) in rule.when.iter().enumerate() {
            perms.push(self.condition(o, i, j, c)?);
        }
        let sources = rule.from.iter().map(|f| source(&f.source)).collect();
        Some(Policy {
            permissions: vec![all_of(perms, Permission::And, Permission::Any)],
            principals: vec![any_of(sources, Principal::Or).unwrap_or(Principal::Any)],
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

    fn condition(&mut self, o: &Loaded, i: usize, j: usize, c: &Condition) -> Option<Permission> {
        let header = c
            .key
            .strip_prefix("request.headers[")
            .and_then(|k| k.strip_suffix(']'))
            .filter(|k| !k.is_empty());
        let Some(name) = header else {
            self.findings.push(Severity::Error, o, format!("spec.rules[{i}].when[{j}].key {:?} is not translated by the local mesh (only request.headers[NAME])", c.key));
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
        Some(all_of(all, Permission::And, Permission::Any))
    }

    /// `check` on the security kinds, once per translation (with or without sidecars):
    /// a selector that matches no pod (IST0127), an exact principal no proxy of the mesh
    /// has, a namespace no workload lives in (IST0101).
    pub(super) fn check_security(&mut self) {
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
