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
pub(crate) const GROUP: &str = "gateway.networking.k8s.io";

/// The GatewayClass Istio's controller serves.
pub(crate) const ISTIO_CLASS: &str = "istio";

/// A Gateway API `Gateway`: in the cluster, istiod deploys a dedicated gateway
/// (Deployment + Service `<name>-istio`); locally the one Envoy gateway serves it.
pub(crate) type Gateway = Resource<GatewaySpec>;

impl Spec for GatewaySpec {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GatewaySpec {
    pub(crate) gateway_class_name: String,
    pub(crate) listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Listener {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) protocol: String,
    pub(crate) hostname: Option<String>,
    #[serde(default)]
    pub(crate) allowed_routes: AllowedRoutes,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AllowedRoutes {
    pub(crate) namespaces: RouteNamespaces,
    pub(crate) kinds: Vec<RouteGroupKind>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RouteNamespaces {
    pub(crate) from: FromNamespaces,
}

/// Which namespaces may attach routes (`Selector` needs namespace labels: not translated).
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
pub(crate) enum FromNamespaces {
    #[default]
    Same,
    All,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RouteGroupKind {
    pub(crate) group: Option<String>,
    pub(crate) kind: String,
}

/// A Gateway API `HTTPRoute`.
pub(crate) type HttpRoute = Resource<HttpRouteSpec>;

impl Spec for HttpRouteSpec {}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HttpRouteSpec {
    pub(crate) parent_refs: Vec<ParentRef>,
    pub(crate) hostnames: Vec<String>,
    pub(crate) rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ParentRef {
    pub(crate) group: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    pub(crate) section_name: Option<String>,
    pub(crate) port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Rule {
    pub(crate) name: Option<String>,
    pub(crate) matches: Vec<RouteMatch>,
    pub(crate) filters: Vec<Filter>,
    pub(crate) backend_refs: Vec<BackendRef>,
    pub(crate) timeouts: Option<Timeouts>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RouteMatch {
    pub(crate) path: Option<PathMatch>,
    pub(crate) headers: Vec<ValueMatch>,
    pub(crate) query_params: Vec<ValueMatch>,
    pub(crate) method: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PathMatch {
    #[serde(rename = "type", default)]
    pub(crate) kind: PathMatchType,
    #[serde(default = "root")]
    pub(crate) value: String,
}

fn root() -> String {
    "/".into()
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
pub(crate) enum PathMatchType {
    Exact,
    #[default]
    PathPrefix,
    RegularExpression,
}

/// A header or query parameter match.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ValueMatch {
    #[serde(rename = "type", default)]
    pub(crate) kind: ValueMatchType,
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
pub(crate) enum ValueMatchType {
    #[default]
    Exact,
    RegularExpression,
}

/// One filter: `type` names which of the other fields is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Filter {
    #[serde(rename = "type")]
    pub(crate) kind: FilterType,
    pub(crate) request_header_modifier: Option<HeaderModifier>,
    pub(crate) response_header_modifier: Option<HeaderModifier>,
    pub(crate) url_rewrite: Option<UrlRewrite>,
}

/// The filter types translated; any other `type` (RequestRedirect, RequestMirror,
/// ExtensionRef, CORS) is refused at `filters[i].type`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub(crate) enum FilterType {
    RequestHeaderModifier,
    ResponseHeaderModifier,
    #[serde(rename = "URLRewrite")]
    UrlRewrite,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HeaderModifier {
    pub(crate) set: Vec<Header>,
    pub(crate) add: Vec<Header>,
    pub(crate) remove: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Header {
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UrlRewrite {
    pub(crate) hostname: Option<String>,
    pub(crate) path: Option<PathModifier>,
}

/// `URLRewrite.path`: only `ReplacePrefixMatch` (Envoy's `prefix_rewrite`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PathModifier {
    #[serde(rename = "type")]
    #[allow(dead_code)] // accepted in the YAML; the local mesh has no use for it
    pub(crate) kind: PathModifierType,
    pub(crate) replace_prefix_match: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub(crate) enum PathModifierType {
    ReplacePrefixMatch,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BackendRef {
    pub(crate) group: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) weight: Option<u32>,
}

impl BackendRef {
    /// Gateway API's default weight is 1 (relative), not Istio's "rest of 100".
    pub(crate) fn weight(&self) -> u32 {
        self.weight.unwrap_or(1)
    }

    /// Only core Services are translated (the default group "" and kind Service).
    pub(crate) fn is_service(&self) -> bool {
        self.group.as_deref().unwrap_or("").is_empty()
            && self.kind.as_deref().unwrap_or("Service") == "Service"
    }
}

impl ParentRef {
    /// Only Gateways are parents here (a Service parent is GAMMA mesh routing: sidecars).
    pub(crate) fn is_gateway(&self) -> bool {
        self.group.as_deref().unwrap_or(GROUP) == GROUP
            && self.kind.as_deref().unwrap_or("Gateway") == "Gateway"
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Timeouts {
    pub(crate) request: Option<String>,
}

/// Text that is not a Gateway API duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Gateway API duration (e.g. 5s, 500ms, 1h30m)")]
pub(crate) struct BadDuration(pub String);

/// A Gateway API duration (GEP-2257: `1h`, `30s`, `500ms`, `1h30m`, `0s`) in milliseconds.
pub(crate) fn duration_ms(text: &str) -> Result<u64, BadDuration> {
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
