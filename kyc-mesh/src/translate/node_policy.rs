//! AuthorizationPolicy for ambient workloads → the node proxy's L4 policies, as ztunnel
//! enforces them: for each ambient workload, every ALLOW/DENY policy of its namespace (or
//! the root namespace) whose selector selects it, with what a node proxy can see — the
//! peer's principal and namespace, the destination port. An L7 field (methods, paths,
//! request principals, `when` conditions) cannot be enforced there and is refused by path:
//! it belongs on the waypoint (`targetRefs`, `waypoint.rs`). Ports are the pod's container
//! port, as in the cluster.

use std::collections::{BTreeMap, BTreeSet};

use kyc_node_proxy::authz;

use crate::analyze::Severity;
use crate::istio::{namespace_of, Action, AuthorizationPolicy, Loaded, ROOT_NAMESPACE};

use super::security::selects;
use super::Ctx;

/// The node proxy's policies of each ambient workload that any policy selects.
pub(crate) type NodePolicies = BTreeMap<&'static str, Vec<authz::Policy>>;

fn some(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

impl Ctx<'_> {
    pub(super) fn node_policies(&mut self, ambient: &BTreeSet<&'static str>) -> NodePolicies {
        let mut out = NodePolicies::new();
        let workloads: Vec<_> = self
            .topology
            .workloads
            .iter()
            .filter(|w| ambient.contains(w.name))
            .cloned()
            .collect();
        for w in &workloads {
            for (o, ap) in self.registry.authorization_policies.clone() {
                let ns = namespace_of(&ap.metadata.namespace);
                if (ns != w.namespace && ns != ROOT_NAMESPACE)
                    || !selects(&ap.spec.selector, w)
                    || !ap.spec.target_refs.is_empty()
                {
                    continue;
                }
                if let Some(p) = self.node_policy(o, ap) {
                    out.entry(w.name).or_default().push(p);
                }
            }
        }
        out
    }

    /// One policy's L4 part; `None` (with findings) when it has what a node proxy cannot
    /// enforce.
    fn node_policy(&mut self, o: &Loaded, ap: &AuthorizationPolicy) -> Option<authz::Policy> {
        let l7 = "an L7 attribute: in ambient mode the node proxy enforces L4 only (principals, namespaces, ports); attach the policy to the Service's waypoint instead (spec.targetRefs)";
        let mut problems = Vec::new();
        let action = match ap.spec.action {
            Action::Allow => authz::Action::Allow,
            Action::Deny => authz::Action::Deny,
            Action::Audit | Action::Custom => {
                problems.push(
                    "spec.action: only ALLOW and DENY are enforced by the node proxy".to_string(),
                );
                authz::Action::Deny
            }
        };
        let mut rules = Vec::new();
        for (ri, r) in ap.spec.rules.iter().enumerate() {
            if !r.when.is_empty() {
                problems.push(format!("spec.rules[{ri}].when: {l7}"));
            }
            let mut from = Vec::new();
            for (fi, f) in r.from.iter().enumerate() {
                let s = &f.source;
                if !s.request_principals.is_empty() || !s.not_request_principals.is_empty() {
                    problems.push(format!(
                        "spec.rules[{ri}].from[{fi}].source.requestPrincipals: {l7}"
                    ));
                }
                from.push(authz::From {
                    source: authz::Source {
                        principals: some(&s.principals),
                        not_principals: some(&s.not_principals),
                        namespaces: some(&s.namespaces),
                        not_namespaces: some(&s.not_namespaces),
                    },
                });
            }
            let mut to = Vec::new();
            for (ti, t) in r.to.iter().enumerate() {
                let op = &t.operation;
                for (field, values) in [
                    ("methods", &op.methods),
                    ("notMethods", &op.not_methods),
                    ("paths", &op.paths),
                    ("notPaths", &op.not_paths),
                ] {
                    if !values.is_empty() {
                        problems.push(format!("spec.rules[{ri}].to[{ti}].operation.{field}: {l7}"));
                    }
                }
                to.push(authz::To {
                    operation: authz::Operation {
                        ports: some(&op.ports),
                        not_ports: some(&op.not_ports),
                    },
                });
            }
            rules.push(authz::Rule { from, to });
        }
        if !problems.is_empty() {
            for p in problems {
                self.findings.push(Severity::Error, o, p);
            }
            return None;
        }
        Some(authz::Policy {
            name: format!(
                "{}/{}",
                namespace_of(&ap.metadata.namespace),
                ap.metadata.name
            ),
            action,
            rules,
        })
    }
}
