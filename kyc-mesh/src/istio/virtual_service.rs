//! Istio `VirtualService`: HTTP routes (match → destinations with weights) and what
//! happens on the way (rewrite, timeout, retries, fault, mirror, headers).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Resource, Spec};

pub(crate) type VirtualService = Resource<VirtualServiceSpec>;

impl Spec for VirtualServiceSpec {}

impl VirtualServiceSpec {
    /// The http route named `name`, to change it (a weight override; routes without a name
    /// cannot be named).
    pub(crate) fn route_named_mut(&mut self, name: &str) -> Option<&mut HttpRoute> {
        self.http
            .iter_mut()
            .find(|r| r.name.as_deref() == Some(name))
    }
}

/// One http route of one VirtualService, by name: what `set-weights`, a weight override and
/// the canary name (`kyc-credit-check/credit-check-report`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteRef {
    pub virtual_service: String,
    pub route: String,
}

impl RouteRef {
    pub fn new(virtual_service: impl Into<String>, route: impl Into<String>) -> Self {
        RouteRef {
            virtual_service: virtual_service.into(),
            route: route.into(),
        }
    }
}

impl std::fmt::Display for RouteRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.virtual_service, self.route)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VirtualServiceSpec {
    pub(crate) hosts: Vec<String>,
    #[serde(default)]
    pub(crate) gateways: Vec<String>,
    #[serde(default)]
    pub(crate) http: Vec<HttpRoute>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HttpRoute {
    pub(crate) name: Option<String>,
    #[serde(rename = "match")]
    pub(crate) matches: Vec<HttpMatch>,
    pub(crate) route: Vec<RouteDestination>,
    pub(crate) rewrite: Option<Rewrite>,
    pub(crate) timeout: Option<String>,
    pub(crate) retries: Option<Retries>,
    pub(crate) fault: Option<Fault>,
    pub(crate) mirror: Option<Destination>,
    pub(crate) mirror_percentage: Option<Percent>,
    pub(crate) headers: Option<Headers>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HttpMatch {
    pub(crate) name: Option<String>,
    pub(crate) uri: Option<StringMatch>,
    pub(crate) method: Option<StringMatch>,
    pub(crate) headers: BTreeMap<String, StringMatch>,
    pub(crate) without_headers: BTreeMap<String, StringMatch>,
    pub(crate) query_params: BTreeMap<String, StringMatch>,
    pub(crate) ignore_uri_case: bool,
    pub(crate) gateways: Vec<String>,
}

/// Istio StringMatch: exactly one of exact, prefix, regex.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StringMatch {
    Exact(String),
    Prefix(String),
    Regex(String),
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
struct StringMatchRepr {
    exact: Option<String>,
    prefix: Option<String>,
    regex: Option<String>,
}

impl<'de> Deserialize<'de> for StringMatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = StringMatchRepr::deserialize(d)?;
        match (r.exact, r.prefix, r.regex) {
            (Some(v), None, None) => Ok(StringMatch::Exact(v)),
            (None, Some(v), None) => Ok(StringMatch::Prefix(v)),
            (None, None, Some(v)) => Ok(StringMatch::Regex(v)),
            _ => Err(serde::de::Error::custom(
                "a string match needs exactly one of `exact`, `prefix`, `regex`",
            )),
        }
    }
}

/// One destination of a route and its share of the traffic.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RouteDestination {
    pub(crate) destination: Destination,
    pub(crate) weight: Option<u32>,
    pub(crate) headers: Option<Headers>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Destination {
    pub(crate) host: String,
    pub(crate) subset: Option<String>,
    pub(crate) port: Option<PortSelector>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PortSelector {
    pub(crate) number: u16,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Rewrite {
    pub(crate) uri: Option<String>,
    pub(crate) authority: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Retries {
    pub(crate) attempts: u32,
    pub(crate) per_try_timeout: Option<String>,
    pub(crate) retry_on: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Fault {
    pub(crate) delay: Option<FaultDelay>,
    pub(crate) abort: Option<FaultAbort>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FaultDelay {
    pub(crate) fixed_delay: String,
    pub(crate) percentage: Option<Percent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FaultAbort {
    pub(crate) http_status: u16,
    pub(crate) percentage: Option<Percent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Percent {
    pub(crate) value: f64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Headers {
    pub(crate) request: Option<HeaderOps>,
    pub(crate) response: Option<HeaderOps>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HeaderOps {
    pub(crate) set: BTreeMap<String, String>,
    pub(crate) add: BTreeMap<String, String>,
    pub(crate) remove: Vec<String>,
}
