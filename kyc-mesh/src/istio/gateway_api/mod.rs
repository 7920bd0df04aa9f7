//! Kubernetes Gateway API (`gateway.networking.k8s.io/v1`) `Gateway` and `HTTPRoute`, the
//! subset the local mesh translates. Parsed with `deny_unknown_fields` like the Istio
//! kinds: a field not listed here (listener `tls`, `addresses`, a `RequestRedirect`
//! filter, `timeouts.backendRequest`, …) is refused with its field path.
//!
//! istiod turns these into its own Gateway/VirtualService model before building Envoy
//! config (pilot/pkg/config/kube/gateway); `translate/gateway_api.rs` does the same
//! with the local route model.

use serde::Deserialize;

use super::{Resource, Spec};

/// The API group of both kinds (and the default `group` of a `parentRef`).
pub const GROUP: &str = "gateway.networking.k8s.io";

/// The GatewayClass Istio's controller serves.
pub const ISTIO_CLASS: &str = "istio";

/// A Gateway API `Gateway`: in the cluster, istiod deploys a dedicated gateway
/// (Deployment + Service `<name>-istio`); locally the one Envoy gateway serves it.
pub type Gateway = Resource<GatewaySpec>;

impl Spec for GatewaySpec {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySpec {
    pub gateway_class_name: String,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Listener {
    pub name: String,
    pub port: u16,
    pub protocol: String,
    pub hostname: Option<String>,
    #[serde(default)]
    pub allowed_routes: AllowedRoutes,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowedRoutes {
    pub namespaces: RouteNamespaces,
    pub kinds: Vec<RouteGroupKind>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteNamespaces {
    pub from: FromNamespaces,
}

/// Which namespaces may attach routes (`Selector` needs namespace labels: not translated).
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
pub enum FromNamespaces {
    #[default]
    Same,
    All,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteGroupKind {
    pub group: Option<String>,
    pub kind: String,
}

/// A Gateway API `HTTPRoute`.
pub type HttpRoute = Resource<HttpRouteSpec>;

impl Spec for HttpRouteSpec {}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRouteSpec {
    pub parent_refs: Vec<ParentRef>,
    pub hostnames: Vec<String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParentRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub section_name: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub name: Option<String>,
    pub matches: Vec<RouteMatch>,
    pub filters: Vec<Filter>,
    pub backend_refs: Vec<BackendRef>,
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteMatch {
    pub path: Option<PathMatch>,
    pub headers: Vec<ValueMatch>,
    pub query_params: Vec<ValueMatch>,
    pub method: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathMatch {
    #[serde(rename = "type", default)]
    pub kind: PathMatchType,
    #[serde(default = "root")]
    pub value: String,
}

fn root() -> String {
    "/".into()
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
pub enum PathMatchType {
    Exact,
    #[default]
    PathPrefix,
    RegularExpression,
}

/// A header or query parameter match.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueMatch {
    #[serde(rename = "type", default)]
    pub kind: ValueMatchType,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
pub enum ValueMatchType {
    #[default]
    Exact,
    RegularExpression,
}

/// One filter: `type` names which of the other fields is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    #[serde(rename = "type")]
    pub kind: FilterType,
    pub request_header_modifier: Option<HeaderModifier>,
    pub response_header_modifier: Option<HeaderModifier>,
    pub url_rewrite: Option<UrlRewrite>,
}

/// The filter types translated; any other `type` (RequestRedirect, RequestMirror,
/// ExtensionRef, CORS) is refused at `filters[i].type`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum FilterType {
    RequestHeaderModifier,
    ResponseHeaderModifier,
    #[serde(rename = "URLRewrite")]
    UrlRewrite,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderModifier {
    pub set: Vec<Header>,
    pub add: Vec<Header>,
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct UrlRewrite {
    pub hostname: Option<String>,
    pub path: Option<PathModifier>,
}

/// `URLRewrite.path`: only `ReplacePrefixMatch` (Envoy's `prefix_rewrite`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathModifier {
    #[serde(rename = "type")]
    pub kind: PathModifierType,
    pub replace_prefix_match: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum PathModifierType {
    ReplacePrefixMatch,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
    pub port: Option<u16>,
    pub weight: Option<u32>,
}

impl BackendRef {
    /// Gateway API's default weight is 1 (relative), not Istio's "rest of 100".
    pub fn weight(&self) -> u32 {
        self.weight.unwrap_or(1)
    }

    /// Only core Services are translated (the default group "" and kind Service).
    pub fn is_service(&self) -> bool {
        self.group.as_deref().unwrap_or("").is_empty()
            && self.kind.as_deref().unwrap_or("Service") == "Service"
    }
}

impl ParentRef {
    /// Only Gateways are parents here (a Service parent is GAMMA mesh routing: sidecars).
    pub fn is_gateway(&self) -> bool {
        self.group.as_deref().unwrap_or(GROUP) == GROUP
            && self.kind.as_deref().unwrap_or("Gateway") == "Gateway"
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    pub request: Option<String>,
}

/// Text that is not a Gateway API duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Gateway API duration (e.g. 5s, 500ms, 1h30m)")]
pub struct BadDuration(pub String);

/// A Gateway API duration (GEP-2257: `1h`, `30s`, `500ms`, `1h30m`, `0s`) in milliseconds.
pub fn duration_ms(text: &str) -> Result<u64, BadDuration> {
    let bad = || BadDuration(text.to_string());
    let mut rest = text;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 || digits > 5 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else {
            return Err(bad());
        };
        rest = &rest[len..];
        total = total.saturating_add(n.saturating_mul(unit_ms));
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
