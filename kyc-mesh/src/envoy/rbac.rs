//! `envoy.extensions.filters.http.rbac.v3`: AuthorizationPolicy as Envoy enforces it. A
//! request is allowed by a policy when one of its permissions and one of its principals
//! match; the DENY filter runs before the ALLOW filter, and an ALLOW configuration that no
//! policy matches answers `403 RBAC: access denied`.
//!
//! Permissions and principals are one-of messages: serialised by hand as one-entry maps
//! (serde's enum form would become a YAML tag in `render`'s output).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::matcher::{HeaderMatcher, MetadataMatcher, StringMatcher};
use super::Message;

/// `RBACPerRoute`: `rbac: None` turns the filter off for the route (the probes).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub(crate) struct RbacPerRoute {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rbac: Option<Rbac>,
}

impl Message for RbacPerRoute {
    const TYPE_URL: &'static str =
        "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Rbac {
    pub(crate) rules: Rules,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Rules {
    pub(crate) action: RbacAction,
    /// Named as istiod names them: `ns[<ns>]-policy[<name>]-rule[<i>]`.
    pub(crate) policies: BTreeMap<String, Policy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum RbacAction {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Policy {
    pub(crate) permissions: Vec<Permission>,
    pub(crate) principals: Vec<Principal>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Permission {
    Any,
    And(Vec<Permission>),
    Or(Vec<Permission>),
    Not(Box<Permission>),
    Header(HeaderMatcher),
    UrlPath(StringMatcher),
    DestinationPort(u16),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Principal {
    Any,
    And(Vec<Principal>),
    Or(Vec<Principal>),
    Not(Box<Principal>),
    /// The peer certificate's URI SAN (its SPIFFE ID).
    Authenticated(StringMatcher),
    /// The request's dynamic metadata: a verified token's claims (`requestPrincipals`,
    /// `request.auth.*`). Written as `sourced_metadata` (dynamic): istiod still writes the
    /// older `metadata` field, which Envoy 1.40 warns is deprecated on every load.
    Metadata(MetadataMatcher),
    /// A string in the connection's filter state: a waypoint's peer identity, carried from
    /// its HBONE listener into the internal listener (`io.istio.peer_principal`).
    FilterState {
        key: &'static str,
        matcher: StringMatcher,
    },
}

#[derive(Serialize)]
struct Set<'a, T> {
    rules: &'a [T],
}

#[derive(Serialize)]
struct Ids<'a, T> {
    ids: &'a [T],
}

#[derive(Serialize)]
struct PathMatcher<'a> {
    path: &'a StringMatcher,
}

#[derive(Serialize)]
struct Sourced<'a> {
    metadata_matcher: &'a MetadataMatcher,
}

#[derive(Serialize)]
struct FilterStateMatcher<'a> {
    key: &'a str,
    string_match: &'a StringMatcher,
}

#[derive(Serialize)]
struct Authenticated<'a> {
    principal_name: &'a StringMatcher,
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Permission::Any => m.serialize_entry("any", &true)?,
            Permission::And(rules) => m.serialize_entry("and_rules", &Set { rules })?,
            Permission::Or(rules) => m.serialize_entry("or_rules", &Set { rules })?,
            Permission::Not(p) => m.serialize_entry("not_rule", p)?,
            Permission::Header(h) => m.serialize_entry("header", h)?,
            Permission::UrlPath(path) => m.serialize_entry("url_path", &PathMatcher { path })?,
            Permission::DestinationPort(p) => m.serialize_entry("destination_port", p)?,
        }
        m.end()
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Principal::Any => m.serialize_entry("any", &true)?,
            Principal::And(ids) => m.serialize_entry("and_ids", &Ids { ids })?,
            Principal::Or(ids) => m.serialize_entry("or_ids", &Ids { ids })?,
            Principal::Not(p) => m.serialize_entry("not_id", p)?,
            Principal::Authenticated(principal_name) => {
                m.serialize_entry("authenticated", &Authenticated { principal_name })?
            }
            Principal::Metadata(metadata_matcher) => {
                m.serialize_entry("sourced_metadata", &Sourced { metadata_matcher })?
            }
            Principal::FilterState { key, matcher } => m.serialize_entry(
                "filter_state",
                &FilterStateMatcher {
                    key,
                    string_match: matcher,
                },
            )?,
        }
        m.end()
    }
}
