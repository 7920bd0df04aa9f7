//! `envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`: end-user tokens verified
//! by the proxy, as istiod builds the filter from RequestAuthentication
//! (`pilot/pkg/security/authn/policy_applier.go`): one provider per JWT rule (`origins-<i>`,
//! the rules sorted by issuer), the keys inline, the verified payload in the dynamic metadata
//! under `payload` (what AuthorizationPolicy's `requestPrincipals` and `request.auth.claims`
//! match), and a requirement that lets a request WITHOUT a token through (the
//! AuthorizationPolicy decides about those) while any token present must be valid.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::Message;

/// The filter's name: the RBAC metadata matchers name it too.
pub(crate) const JWT_AUTHN_FILTER: &str = "envoy.filters.http.jwt_authn";
/// Where the verified payload is put in the dynamic metadata (istiod's
/// `filters.EnvoyJwtFilterPayload`).
pub(crate) const PAYLOAD_IN_METADATA: &str = "payload";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct JwtAuthentication {
    pub(crate) providers: BTreeMap<String, JwtProvider>,
    pub(crate) rules: Vec<RequirementRule>,
    /// A CORS preflight carries no credentials (istiod sets it).
    pub(crate) bypass_cors_preflight: bool,
}

impl Message for JwtAuthentication {
    const TYPE_URL: &'static str =
        "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct JwtProvider {
    pub(crate) issuer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) audiences: Vec<String>,
    pub(crate) local_jwks: DataSource,
    /// Keep the token in the request sent to the app (`forwardOriginalToken`).
    pub(crate) forward: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) from_headers: Vec<FromHeader>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) from_params: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) from_cookies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) forward_payload_header: Option<String>,
    pub(crate) payload_in_metadata: &'static str,
    pub(crate) normalize_payload_in_metadata: NormalizePayload,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) claim_to_headers: Vec<ClaimToHeader>,
}

/// `config.core.v3.DataSource` with the text inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DataSource {
    pub(crate) inline_string: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FromHeader {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value_prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct NormalizePayload {
    /// Claims whose space-delimited string becomes a list (`scope`, `permission`).
    pub(crate) space_delimited_claims: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ClaimToHeader {
    pub(crate) header_name: String,
    pub(crate) claim_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RequirementRule {
    #[serde(rename = "match")]
    pub(crate) matcher: PrefixMatch,
    pub(crate) requires: Requirement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PrefixMatch {
    pub(crate) prefix: String,
}

/// `JwtRequirement`: a one-of, serialised as a one-entry map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requirement {
    Provider(String),
    AllowMissing,
    Any(Vec<Requirement>),
    All(Vec<Requirement>),
}

#[derive(Serialize)]
struct List<'a> {
    requirements: &'a [Requirement],
}

impl Serialize for Requirement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Requirement::Provider(name) => m.serialize_entry("provider_name", name)?,
            Requirement::AllowMissing => {
                m.serialize_entry("allow_missing", &BTreeMap::<String, String>::new())?
            }
            Requirement::Any(requirements) => {
                m.serialize_entry("requires_any", &List { requirements })?
            }
            Requirement::All(requirements) => {
                m.serialize_entry("requires_all", &List { requirements })?
            }
        }
        m.end()
    }
}

impl JwtAuthentication {
    /// istiod's requirement for `providers` (named `origins-0`, `origins-1`, … in rule
    /// order): a token, when present, must be valid for one of them; a request without one
    /// passes. One provider: `any(p, allow_missing)`; several: `any(p0, p1, …, all(any(p0,
    /// allow_missing), any(p1, allow_missing), …))`.
    pub(crate) fn new(providers: Vec<JwtProvider>) -> Self {
        let names: Vec<String> = (0..providers.len())
            .map(|i| format!("origins-{i}"))
            .collect();
        let optional = |n: &String| {
            Requirement::Any(vec![
                Requirement::Provider(n.clone()),
                Requirement::AllowMissing,
            ])
        };
        let requires = match names.as_slice() {
            [one] => optional(one),
            many => {
                let mut any: Vec<Requirement> = many
                    .iter()
                    .map(|n| Requirement::Provider(n.clone()))
                    .collect();
                any.push(Requirement::All(many.iter().map(optional).collect()));
                Requirement::Any(any)
            }
        };
        JwtAuthentication {
            providers: names.into_iter().zip(providers).collect(),
            rules: vec![RequirementRule {
                matcher: PrefixMatch { prefix: "/".into() },
                requires,
            }],
            bypass_cors_preflight: true,
        }
    }
}
