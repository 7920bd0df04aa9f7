//! Istio security kinds (security.istio.io): `PeerAuthentication` (what a sidecar's
//! inbound accepts) and `AuthorizationPolicy` (who may call what). Parsed with
//! `deny_unknown_fields` like the routing kinds: a field the local mesh does not translate
//! (`ipBlocks`, `hosts`, `requestPrincipals`, `targetRef`, …) is refused by name.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Resource, Spec};

/// Istio's `meshConfig.rootNamespace` default: a policy there without a selector is
/// mesh-wide.
pub const ROOT_NAMESPACE: &str = "istio-system";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSelector {
    pub match_labels: BTreeMap<String, String>,
}

pub type PeerAuthentication = Resource<PeerAuthenticationSpec>;

impl Spec for PeerAuthenticationSpec {
    fn absent() -> Option<Self> {
        Some(Self::default())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerAuthenticationSpec {
    pub selector: Option<WorkloadSelector>,
    pub mtls: Option<PeerMtls>,
    /// Container port → mode; only with a `selector`, as in Istio.
    pub port_level_mtls: BTreeMap<u16, PeerMtls>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerMtls {
    pub mode: MtlsMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent (namespace, then mesh); PERMISSIVE at the top.
    #[default]
    Unset,
    Disable,
    Permissive,
    Strict,
}

pub type AuthorizationPolicy = Resource<AuthorizationPolicySpec>;

impl Spec for AuthorizationPolicySpec {
    fn absent() -> Option<Self> {
        Some(Self::default())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationPolicySpec {
    pub selector: Option<WorkloadSelector>,
    pub action: Action,
    /// CUSTOM's external authorizer: refused (see `translate::security`).
    pub provider: Option<serde_norway::Value>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    #[default]
    Allow,
    Deny,
    Audit,
    Custom,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub from: Vec<From>,
    pub to: Vec<To>,
    pub when: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct From {
    pub source: Source,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    pub principals: Vec<String>,
    pub not_principals: Vec<String>,
    pub namespaces: Vec<String>,
    pub not_namespaces: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct To {
    pub operation: Operation,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    pub methods: Vec<String>,
    pub not_methods: Vec<String>,
    pub paths: Vec<String>,
    pub not_paths: Vec<String>,
    /// Strings in Istio's API (`"8080"`).
    pub ports: Vec<String>,
    pub not_ports: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    pub key: String,
    pub values: Vec<String>,
    pub not_values: Vec<String>,
}
