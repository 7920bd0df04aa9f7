//! `envoy.config.route.v3.RouteConfiguration` and what hangs below it: virtual hosts,
//! routes (first match wins), weighted clusters, retry policy, per-route fault config.

use std::collections::BTreeMap;

use serde::Serialize;

pub(crate) use super::matcher::{HeaderMatcher, RegexMatcher, StringMatcher};

use super::{Any, ClusterName, Duration, Empty, FractionalPercent, Message, RouteConfigName};
use super::{TypedExtension, Weight};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RouteConfiguration {
    pub(crate) name: RouteConfigName,
    pub(crate) virtual_hosts: Vec<VirtualHost>,
    /// Routes may name a cluster CDS has not delivered yet (`apply` adds clusters first,
    /// but Envoy must not reject a route table over ordering).
    pub(crate) validate_clusters: bool,
}

impl Message for RouteConfiguration {
    const TYPE_URL: &'static str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct VirtualHost {
    pub(crate) name: String,
    pub(crate) domains: Vec<String>,
    pub(crate) routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Route {
    pub(crate) name: String,
    #[serde(rename = "match")]
    pub(crate) matcher: RouteMatch,
    pub(crate) route: RouteAction,
    #[serde(flatten)]
    pub(crate) headers: HeaderMutations,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) typed_per_filter_config: BTreeMap<&'static str, PerFilterConfig>,
    /// Route-level tracing: `None` follows the listener's (every request when `up` traces).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tracing: Option<RouteTracing>,
}

/// `envoy.config.route.v3.Tracing`: the share of a route's requests traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct RouteTracing {
    pub(crate) client_sampling: FractionalPercent,
    pub(crate) random_sampling: FractionalPercent,
    pub(crate) overall_sampling: FractionalPercent,
}

impl RouteTracing {
    /// Never traced: the probes (the gateway's and other sidecars' readiness checks, every
    /// few seconds for every instance) would bury the requests in the trace list.
    pub(crate) fn off() -> Self {
        let zero = FractionalPercent {
            numerator: 0,
            denominator: super::values::Denominator::Million,
        };
        RouteTracing {
            client_sampling: zero,
            random_sampling: zero,
            overall_sampling: zero,
        }
    }
}

/// A filter's configuration for one route, keyed by the filter's name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum PerFilterConfig {
    Fault(Any<HttpFault>),
    Rbac(Any<super::rbac::RbacPerRoute>),
}

/// `match`: a path specifier plus header and query conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RouteMatch {
    #[serde(flatten)]
    pub(crate) path: PathMatch,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) case_sensitive: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) headers: Vec<HeaderMatcher>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) query_parameters: Vec<QueryParameterMatcher>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PathMatch {
    Prefix(String),
    /// Whole path segments only (`/a` matches `/a` and `/a/b`, not `/ab`): what istiod
    /// generates for a Gateway API `PathPrefix`.
    PathSeparatedPrefix(String),
    Path(String),
    SafeRegex(RegexMatcher),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct QueryParameterMatcher {
    pub(crate) name: String,
    pub(crate) string_match: StringMatcher,
}

/// `route`: where the request goes and how (timeout, retries, rewrite, mirror).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub(crate) struct RouteAction {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<RouteTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) retry_policy: Option<RetryPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prefix_rewrite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) host_rewrite_literal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) request_mirror_policies: Vec<MirrorPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RouteTarget {
    Cluster(ClusterName),
    WeightedClusters(WeightedClusters),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WeightedClusters {
    pub(crate) clusters: Vec<WeightedCluster>,
}

/// One destination of a split: Istio's `route[i].destination` + `weight`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WeightedCluster {
    pub(crate) name: ClusterName,
    pub(crate) weight: Weight,
    #[serde(flatten)]
    pub(crate) headers: HeaderMutations,
}

/// Header additions and removals, on a route or on one weighted cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub(crate) struct HeaderMutations {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) request_headers_to_add: Vec<HeaderValueOption>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) request_headers_to_remove: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) response_headers_to_add: Vec<HeaderValueOption>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) response_headers_to_remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HeaderValueOption {
    pub(crate) header: HeaderValue,
    pub(crate) append_action: AppendAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HeaderValue {
    pub(crate) key: String,
    pub(crate) value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum AppendAction {
    /// Istio's `set`.
    OverwriteIfExistsOrAdd,
    /// Istio's `add`.
    AppendIfExistsOrAdd,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RetryPolicy {
    pub(crate) retry_on: String,
    pub(crate) num_retries: u32,
    pub(crate) retry_host_predicate: Vec<TypedExtension<Empty>>,
    pub(crate) host_selection_retry_max_attempts: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) retriable_status_codes: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) per_try_timeout: Option<Duration>,
}

impl RetryPolicy {
    /// Retry on another host than the one that failed, as istiod configures it.
    pub(crate) fn previous_hosts_predicate() -> Vec<TypedExtension<Empty>> {
        vec![TypedExtension {
            name: "envoy.retry_host_predicates.previous_hosts",
            typed_config: Empty(
                "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
            ),
        }]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MirrorPolicy {
    pub(crate) cluster: ClusterName,
    pub(crate) runtime_fraction: RuntimeFraction,
    pub(crate) trace_sampled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RuntimeFraction {
    pub(crate) default_value: FractionalPercent,
}

/// The fault filter's per-route configuration (Istio's `fault`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub(crate) struct HttpFault {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) delay: Option<FaultDelay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) abort: Option<FaultAbort>,
}

impl Message for HttpFault {
    const TYPE_URL: &'static str =
        "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FaultDelay {
    pub(crate) fixed_delay: Duration,
    pub(crate) percentage: FractionalPercent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FaultAbort {
    pub(crate) http_status: u16,
    pub(crate) percentage: FractionalPercent,
}
