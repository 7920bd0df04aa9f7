//! Istio security kinds (security.istio.io): `PeerAuthentication` (what a sidecar's
//! inbound accepts), `RequestAuthentication` (which end-user tokens (JWT) it verifies) and
//! `AuthorizationPolicy` (who may call what). Parsed with `deny_unknown_fields` like the
//! routing kinds: a field the local mesh does not translate (`ipBlocks`, `hosts`,
//! `targetRef`, …) is refused by name.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Resource, Spec};

/// Istio's `meshConfig.rootNamespace` default: a policy there without a selector is
/// mesh-wide.
pub(crate) const ROOT_NAMESPACE: &str = "istio-system";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct WorkloadSelector {
    pub(crate) match_labels: BTreeMap<String, String>,
}

pub(crate) type PeerAuthentication = Resource<PeerAuthenticationSpec>;

impl Spec for PeerAuthenticationSpec {
    fn absent() -> Option<Self> {
        Some(Self::default())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PeerAuthenticationSpec {
    pub(crate) selector: Option<WorkloadSelector>,
    pub(crate) mtls: Option<PeerMtls>,
    /// Container port → mode; only with a `selector`, as in Istio.
    pub(crate) port_level_mtls: BTreeMap<u16, PeerMtls>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PeerMtls {
    pub(crate) mode: MtlsMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum MtlsMode {
    /// Inherit from the parent (namespace, then mesh); PERMISSIVE at the top.
    #[default]
    Unset,
    Disable,
    Permissive,
    Strict,
}

pub(crate) type AuthorizationPolicy = Resource<AuthorizationPolicySpec>;

impl Spec for AuthorizationPolicySpec {
    fn absent() -> Option<Self> {
        Some(Self::default())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AuthorizationPolicySpec {
    pub(crate) selector: Option<WorkloadSelector>,
    /// Ambient mode: the Service or waypoint Gateway whose waypoint enforces the policy
    /// (instead of a selector's workloads).
    pub(crate) target_refs: Vec<PolicyTargetRef>,
    pub(crate) action: Action,
    /// CUSTOM's external authorizer: refused (see `translate::security`).
    pub(crate) provider: Option<serde_norway::Value>,
    pub(crate) rules: Vec<Rule>,
}

/// A policy's `targetRefs` entry (Gateway API's PolicyTargetReference).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PolicyTargetRef {
    #[serde(default)]
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Action {
    #[default]
    Allow,
    Deny,
    Audit,
    Custom,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Rule {
    pub(crate) from: Vec<From>,
    pub(crate) to: Vec<To>,
    pub(crate) when: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct From {
    pub(crate) source: Source,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Source {
    pub(crate) principals: Vec<String>,
    pub(crate) not_principals: Vec<String>,
    /// End users: `<iss>/<sub>` of a token a RequestAuthentication verified (`*` any).
    pub(crate) request_principals: Vec<String>,
    pub(crate) not_request_principals: Vec<String>,
    pub(crate) namespaces: Vec<String>,
    pub(crate) not_namespaces: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct To {
    pub(crate) operation: Operation,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Operation {
    pub(crate) methods: Vec<String>,
    pub(crate) not_methods: Vec<String>,
    pub(crate) paths: Vec<String>,
    pub(crate) not_paths: Vec<String>,
    /// Strings in Istio's API (`"8080"`).
    pub(crate) ports: Vec<String>,
    pub(crate) not_ports: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Condition {
    pub(crate) key: String,
    pub(crate) values: Vec<String>,
    pub(crate) not_values: Vec<String>,
}

pub(crate) type RequestAuthentication = Resource<RequestAuthenticationSpec>;

impl Spec for RequestAuthenticationSpec {
    fn absent() -> Option<Self> {
        Some(Self::default())
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RequestAuthenticationSpec {
    pub(crate) selector: Option<WorkloadSelector>,
    pub(crate) jwt_rules: Vec<JwtRule>,
}

/// One accepted issuer (Istio's `JWTRule`).
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct JwtRule {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    /// The keys inline (a JWKS document as text): what the local mesh verifies with.
    pub(crate) jwks: Option<String>,
    /// Refused locally (istiod fetches it; nothing fetches here), named by `translate`.
    pub(crate) jwks_uri: Option<String>,
    /// Only with `jwksUri`: refused with it.
    pub(crate) timeout: Option<String>,
    pub(crate) from_headers: Vec<JwtHeader>,
    pub(crate) from_params: Vec<String>,
    pub(crate) from_cookies: Vec<String>,
    pub(crate) output_payload_to_header: Option<String>,
    pub(crate) forward_original_token: bool,
    pub(crate) output_claim_to_headers: Vec<ClaimToHeader>,
    pub(crate) space_delimited_claims: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct JwtHeader {
    pub(crate) name: String,
    pub(crate) prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ClaimToHeader {
    pub(crate) header: String,
    pub(crate) claim: String,
}
