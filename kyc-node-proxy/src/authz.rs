//! L4 AuthorizationPolicy as ztunnel enforces it: a connection is denied when a DENY policy
//! matches, else allowed when there is no ALLOW policy or one of them matches. Only what a
//! node proxy sees is here (the peer's SPIFFE principal and namespace, the destination
//! port); the L7 fields (methods, paths, request principals) belong to the waypoint and are
//! translated by `kyc-mesh`, which writes a policy in Istio's own shape.

use serde::{Deserialize, Serialize};

use crate::spiffe::SpiffeId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Allow,
    Deny,
}

/// One AuthorizationPolicy (its L4 part) that selects the workload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `<namespace>/<name>`, for log lines and metrics.
    pub name: String,
    pub action: Action,
    /// No rule: an ALLOW policy allows nothing, a DENY policy denies nothing (Istio's rule).
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub from: Vec<From>,
    #[serde(default)]
    pub to: Vec<To>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct From {
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct To {
    pub operation: Operation,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    pub principals: Option<Vec<String>>,
    pub not_principals: Option<Vec<String>>,
    pub namespaces: Option<Vec<String>>,
    pub not_namespaces: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Operation {
    pub ports: Option<Vec<String>>,
    pub not_ports: Option<Vec<String>>,
}

/// What is known of a connection when it is authorized.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    pub peer: &'a SpiffeId,
    pub port: u16,
}

/// The verdict, naming the policy that decided a denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Denied by this DENY policy.
    DeniedBy(String),
    /// ALLOW policies select the workload and none matched.
    NotAllowed,
}

pub fn authorize(policies: &[Policy], conn: Connection<'_>) -> Verdict {
    let matching = |action: Action| {
        policies
            .iter()
            .filter(move |p| p.action == action)
            .filter(|p| p.rules.iter().any(|r| r.matches(conn)))
    };
    if let Some(deny) = matching(Action::Deny).next() {
        return Verdict::DeniedBy(deny.name.clone());
    }
    let any_allow = policies.iter().any(|p| p.action == Action::Allow);
    if any_allow && matching(Action::Allow).next().is_none() {
        return Verdict::NotAllowed;
    }
    Verdict::Allow
}

impl Rule {
    fn matches(&self, conn: Connection<'_>) -> bool {
        (self.from.is_empty() || self.from.iter().any(|f| f.source.matches(conn)))
            && (self.to.is_empty() || self.to.iter().any(|t| t.operation.matches(conn)))
    }
}

impl Source {
    fn matches(&self, conn: Connection<'_>) -> bool {
        let principal = conn.peer.principal();
        let namespace = conn.peer.namespace();
        field(&self.principals, principal, true)
            && field(&self.not_principals, principal, false)
            && field(&self.namespaces, namespace, true)
            && field(&self.not_namespaces, namespace, false)
    }
}

impl Operation {
    fn matches(&self, conn: Connection<'_>) -> bool {
        let port = conn.port.to_string();
        field(&self.ports, &port, true) && field(&self.not_ports, &port, false)
    }
}

/// An absent field matches; a present one matches when one of its values does
/// (`positive`), or when none does (a `not…` field).
fn field(values: &Option<Vec<String>>, actual: &str, positive: bool) -> bool {
    match values {
        None => true,
        Some(vs) => vs.iter().any(|v| string_match(v, actual)) == positive,
    }
}

/// Istio's string match: exact, `*` (anything), `prefix*`, `*suffix`.
fn string_match(pattern: &str, actual: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return actual.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return actual.ends_with(suffix);
    }
    pattern == actual
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(json: &str) -> Vec<Policy> {
        serde_json::from_str(json).expect("policies")
    }

    fn id(ns: &str, sa: &str) -> SpiffeId {
        SpiffeId::parse(&format!("spiffe://cluster.local/ns/{ns}/sa/{sa}")).expect("id")
    }

    fn verdict(p: &[Policy], ns: &str, sa: &str, port: u16) -> Verdict {
        authorize(
            p,
            Connection {
                peer: &id(ns, sa),
                port,
            },
        )
    }

    #[test]
    fn no_policy_allows() {
        assert_eq!(verdict(&[], "default", "a", 80), Verdict::Allow);
    }

    #[test]
    fn allow_by_principal_denies_the_others() {
        let p = policies(
            r#"[{"name":"default/only-agg","action":"ALLOW","rules":[{"from":[{"source":{"principals":["cluster.local/ns/default/sa/kyc-aggregator-mgt"]}}]}]}]"#,
        );
        assert_eq!(
            verdict(&p, "default", "kyc-aggregator-mgt", 8081),
            Verdict::Allow
        );
        assert_eq!(
            verdict(&p, "default", "intruder", 8081),
            Verdict::NotAllowed
        );
    }

    #[test]
    fn deny_wins_over_allow_and_names_the_policy() {
        let p = policies(
            r#"[{"name":"default/all","action":"ALLOW","rules":[{}]},
                {"name":"default/no-other-ns","action":"DENY","rules":[{"from":[{"source":{"notNamespaces":["default"]}}]}]}]"#,
        );
        assert_eq!(verdict(&p, "default", "x", 80), Verdict::Allow);
        assert_eq!(
            verdict(&p, "other", "x", 80),
            Verdict::DeniedBy("default/no-other-ns".into())
        );
    }

    #[test]
    fn ports_and_wildcards() {
        let p = policies(
            r#"[{"name":"d/p","action":"DENY","rules":[{"from":[{"source":{"principals":["cluster.local/ns/default/sa/load-*"]}}],"to":[{"operation":{"ports":["8082"]}}]}]}]"#,
        );
        assert_eq!(
            verdict(&p, "default", "load-gen", 8082),
            Verdict::DeniedBy("d/p".into())
        );
        assert_eq!(verdict(&p, "default", "load-gen", 8081), Verdict::Allow);
        assert_eq!(verdict(&p, "default", "agg", 8082), Verdict::Allow);
        let not_ports = policies(
            r#"[{"name":"d/q","action":"ALLOW","rules":[{"to":[{"operation":{"notPorts":["9000"]}}]}]}]"#,
        );
        assert_eq!(verdict(&not_ports, "a", "b", 80), Verdict::Allow);
        assert_eq!(verdict(&not_ports, "a", "b", 9000), Verdict::NotAllowed);
    }

    #[test]
    fn an_allow_policy_without_rules_allows_nothing() {
        let p = policies(r#"[{"name":"d/nothing","action":"ALLOW"}]"#);
        assert_eq!(verdict(&p, "default", "a", 80), Verdict::NotAllowed);
        let d = policies(r#"[{"name":"d/none","action":"DENY"}]"#);
        assert_eq!(verdict(&d, "default", "a", 80), Verdict::Allow);
    }
}
