//! VirtualService HTTP routes → Envoy routes: one Envoy route per `match` (first match
//! wins, file order kept), its action (clusters and weights, timeout, retries, rewrite,
//! mirror), header mutations and per-route fault config.

use std::collections::{BTreeMap, BTreeSet};

use crate::analyze::{Code, Severity};
use crate::envoy::listener::FAULT_FILTER;
use crate::envoy::route::{
    AppendAction, FaultAbort, FaultDelay, HeaderMatcher, HeaderMutations, HeaderValue,
    HeaderValueOption, HttpFault, MirrorPolicy, PathMatch, PerFilterConfig, QueryParameterMatcher,
    RegexMatcher, RetryPolicy, Route, RouteAction, RouteMatch, RouteTarget, RuntimeFraction,
    StringMatcher, WeightedCluster, WeightedClusters,
};
use crate::envoy::{Any, Duration, FractionalPercent, Weight};
use crate::istio::{
    namespace_of, Fault, HeaderOps, Headers, HttpMatch, HttpRoute, Loaded, Percent, Retries,
    StringMatch, VirtualService,
};
use crate::weights;

use super::{dur, Ctx, Untranslatable};

/// Istio's default route retry policy (pilot/pkg/networking/core/route/retry).
pub(crate) const ISTIO_DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/// How a route's fields read: istiod marks the VirtualServices it generates from Gateway
/// API routes ("route semantics: gateway") and builds two things differently for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Semantics {
    /// A VirtualService: weights are percentages adding up to 100, `prefix` is a string prefix.
    Istio,
    /// From an HTTPRoute: weights are relative (any total), `PathPrefix` matches whole path
    /// segments (Envoy `path_separated_prefix`).
    GatewayApi,
}

/// Where a route comes from: what its Envoy route is named after and where a problem
/// is reported (the object's own field path).
pub(super) struct RouteSource<'s> {
    /// The namespace short hosts resolve in.
    pub(crate) namespace: &'s str,
    /// The Envoy route name (`<object>.<route>`).
    pub(crate) name: String,
    /// The field path of the route (`spec.http[0]`, `spec.rules[2]`).
    pub(crate) field: String,
    pub(crate) semantics: Semantics,
}

impl RouteSource<'_> {
    /// A VirtualService's `spec.http[index]`.
    pub(super) fn virtual_service<'v>(
        vs: &'v VirtualService,
        index: usize,
        route: &HttpRoute,
    ) -> RouteSource<'v> {
        let label = route.name.clone().unwrap_or_else(|| index.to_string());
        RouteSource {
            namespace: namespace_of(&vs.metadata.namespace),
            name: format!("{}.{label}", vs.metadata.name),
            field: format!("spec.http[{index}]"),
            semantics: Semantics::Istio,
        }
    }
}

impl Ctx<'_> {
    /// The Envoy routes of one route of the model (a VirtualService's `spec.http[i]`, or
    /// an HTTPRoute rule converted to one); problems become findings on `origin`.
    pub(super) fn translate_route(
        &mut self,
        origin: &Loaded,
        source: &RouteSource,
        route: &HttpRoute,
        gateway_names: &BTreeSet<String>,
    ) -> Vec<Route> {
        let ns = source.namespace.to_string();
        let where_ = &source.field;
        let mut errors: Vec<Untranslatable> = Vec::new();
        if route.route.is_empty() {
            self.findings.push(
                Severity::Error,
                origin,
                format!("{where_}: a route needs at least one `route` destination (redirect/directResponse are not translated)"),
            );
            return Vec::new();
        }
        let weights = || route.route.iter().map(|d| d.weight.unwrap_or(0));
        if source.semantics == Semantics::GatewayApi && weights::total(weights()) == 0 {
            self.findings.push(
                Severity::Error,
                origin,
                format!("{where_}.backendRefs: every weight is 0, so every request would get 500; give one backend a weight"),
            );
            return Vec::new();
        }
        if route.route.len() > 1 && source.semantics == Semantics::Istio {
            if let Err(total) = weights::sum_to_100(weights()) {
                self.findings.push_coded(
                    Severity::Error,
                    origin,
                    format!("{where_}.route: weights add up to {total}, they must add up to 100"),
                    Some(Code::WeightsNotHundred),
                );
            }
        }
        // A destination with weight 0 gets no traffic: Envoy is not told about it.
        let weighted: Vec<_> = route
            .route
            .iter()
            .filter(|d| route.route.len() == 1 || d.weight.unwrap_or(0) > 0)
            .collect();
        let mut action = RouteAction::default();
        let mut headers = HeaderMutations::default();
        if let [only] = weighted.as_slice() {
            action.target = self
                .cluster_for(origin, &only.destination, &ns)
                .map(RouteTarget::Cluster);
            if let Some(h) = &only.headers {
                headers.apply(h);
            }
        } else {
            let mut clusters = Vec::new();
            for d in &weighted {
                if let Some(name) = self.cluster_for(origin, &d.destination, &ns) {
                    let mut wc = WeightedCluster {
                        name,
                        weight: Weight(d.weight.unwrap_or(0)),
                        headers: HeaderMutations::default(),
                    };
                    if let Some(h) = &d.headers {
                        wc.headers.apply(h);
                    }
                    clusters.push(wc);
                }
            }
            action.target = Some(RouteTarget::WeightedClusters(WeightedClusters { clusters }));
        }
        // Istio disables Envoy's 15s default route timeout unless the route sets one.
        match route.timeout.as_deref().map(|t| dur(t, "timeout")) {
            None => action.timeout = Some(Duration::ZERO),
            Some(Ok(t)) => action.timeout = Some(t),
            Some(Err(e)) => errors.push(e),
        }
        match retry_policy(route.retries.as_ref()) {
            Ok(p) => action.retry_policy = p,
            Err(e) => errors.push(e),
        }
        if let Some(rw) = &route.rewrite {
            action.prefix_rewrite = rw.uri.clone();
            action.host_rewrite_literal = rw.authority.clone();
        }
        if let Some(m) = &route.mirror {
            if let Some(cluster) = self.cluster_for(origin, m, &ns) {
                match fraction(route.mirror_percentage.as_ref()) {
                    Ok(default_value) => action.request_mirror_policies.push(MirrorPolicy {
                        cluster,
                        runtime_fraction: RuntimeFraction { default_value },
                        trace_sampled: false,
                    }),
                    Err(e) => errors.push(format!("mirrorPercentage: {e}").into()),
                }
            }
        } else if route.mirror_percentage.is_some() {
            errors.push("mirrorPercentage without mirror".into());
        }
        if let Some(h) = &route.headers {
            headers.apply(h);
        }
        let mut per_filter = BTreeMap::new();
        if let Some(f) = &route.fault {
            match fault_config(f) {
                Ok(cfg) => {
                    per_filter.insert(FAULT_FILTER, PerFilterConfig::Fault(Any::new(cfg)));
                }
                Err(e) => errors.push(e),
            }
        }
        for e in errors {
            self.findings
                .push(Severity::Error, origin, format!("{where_}: {e}"));
        }
        let matches: Vec<Option<&HttpMatch>> = if route.matches.is_empty() {
            vec![None]
        } else {
            route
                .matches
                .iter()
                .filter(|m| {
                    m.gateways.is_empty() || m.gateways.iter().any(|g| gateway_names.contains(g))
                })
                .map(Some)
                .collect()
        };
        matches
            .into_iter()
            .map(|m| Route {
                name: source.name.clone(),
                matcher: route_match(m, source.semantics),
                route: action.clone(),
                headers: headers.clone(),
                typed_per_filter_config: per_filter.clone(),
                tracing: None,
            })
            .collect()
    }
}

impl HeaderMutations {
    /// Add Istio's `headers` block; a list it sets replaces the one set before (route
    /// level after destination level).
    fn apply(&mut self, headers: &Headers) {
        fn replace<T>(slot: &mut Vec<T>, new: Vec<T>) {
            if !new.is_empty() {
                *slot = new;
            }
        }
        if let Some(req) = &headers.request {
            replace(&mut self.request_headers_to_add, header_values(req));
            replace(&mut self.request_headers_to_remove, req.remove.clone());
        }
        if let Some(resp) = &headers.response {
            replace(&mut self.response_headers_to_add, header_values(resp));
            replace(&mut self.response_headers_to_remove, resp.remove.clone());
        }
    }
}

/// Istio's `set` overwrites, `add` appends.
fn header_values(ops: &HeaderOps) -> Vec<HeaderValueOption> {
    let entry = |(k, v): (&String, &String), append_action| HeaderValueOption {
        header: HeaderValue {
            key: k.clone(),
            value: v.clone(),
        },
        append_action,
    };
    let set = ops
        .set
        .iter()
        .map(|kv| entry(kv, AppendAction::OverwriteIfExistsOrAdd));
    let add = ops
        .add
        .iter()
        .map(|kv| entry(kv, AppendAction::AppendIfExistsOrAdd));
    set.chain(add).collect()
}

fn string_match(m: &StringMatch) -> StringMatcher {
    match m {
        StringMatch::Exact(v) => StringMatcher::Exact(v.clone()),
        StringMatch::Prefix(v) => StringMatcher::Prefix(v.clone()),
        StringMatch::Regex(v) => StringMatcher::SafeRegex(RegexMatcher { regex: v.clone() }),
    }
}

fn fraction(p: Option<&Percent>) -> Result<FractionalPercent, Untranslatable> {
    FractionalPercent::from_percent(p.map(|p| p.value)).map_err(|e| Untranslatable(e.to_string()))
}

fn route_match(m: Option<&HttpMatch>, semantics: Semantics) -> RouteMatch {
    let any = PathMatch::Prefix("/".into());
    let Some(m) = m else {
        return RouteMatch {
            path: any,
            case_sensitive: None,
            headers: Vec::new(),
            query_parameters: Vec::new(),
        };
    };
    let path = match &m.uri {
        None => any,
        Some(StringMatch::Exact(p)) => PathMatch::Path(p.clone()),
        // istiod: a gateway-semantics prefix other than "/" matches path segments, and
        // "/foo/" means the same as "/foo".
        Some(StringMatch::Prefix(p)) if semantics == Semantics::GatewayApi && p != "/" => {
            PathMatch::PathSeparatedPrefix(p.trim_end_matches('/').to_string())
        }
        Some(StringMatch::Prefix(p)) => PathMatch::Prefix(p.clone()),
        Some(StringMatch::Regex(r)) => PathMatch::SafeRegex(RegexMatcher { regex: r.clone() }),
    };
    let header = |name: &str, sm: &StringMatch, invert_match: bool| HeaderMatcher {
        name: name.to_string(),
        string_match: string_match(sm),
        invert_match,
    };
    let method = m.method.iter().map(|sm| header(":method", sm, false));
    let with = m.headers.iter().map(|(n, sm)| header(n, sm, false));
    let without = m.without_headers.iter().map(|(n, sm)| header(n, sm, true));
    RouteMatch {
        path,
        case_sensitive: m.ignore_uri_case.then_some(false),
        headers: method.chain(with).chain(without).collect(),
        query_parameters: m
            .query_params
            .iter()
            .map(|(name, sm)| QueryParameterMatcher {
                name: name.clone(),
                string_match: string_match(sm),
            })
            .collect(),
    }
}

/// Istio's retries: none when `attempts: 0`, Istio's defaults when absent; status codes
/// in `retryOn` become `retriable_status_codes`.
pub(super) fn retry_policy(r: Option<&Retries>) -> Result<Option<RetryPolicy>, Untranslatable> {
    let (attempts, per_try, retry_on) = match r {
        None => (2, None, None),
        Some(r) => (
            r.attempts,
            r.per_try_timeout.as_deref(),
            r.retry_on.as_deref(),
        ),
    };
    if attempts == 0 {
        return Ok(None);
    }
    let mut on: Vec<String> = Vec::new();
    let mut codes: Vec<u32> = Vec::new();
    match retry_on {
        None => {
            on.extend(ISTIO_DEFAULT_RETRY_ON.split(',').map(String::from));
            codes.push(503);
        }
        Some(list) => {
            for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match item.parse::<u32>() {
                    Ok(code) => codes.push(code),
                    Err(_) => on.push(item.to_string()),
                }
            }
            if !codes.is_empty() && !on.iter().any(|s| s == "retriable-status-codes") {
                on.push("retriable-status-codes".into());
            }
        }
    }
    Ok(Some(RetryPolicy {
        retry_on: on.join(","),
        num_retries: attempts,
        retry_host_predicate: RetryPolicy::previous_hosts_predicate(),
        host_selection_retry_max_attempts: 5,
        retriable_status_codes: codes,
        per_try_timeout: per_try
            .map(|t| dur(t, "retries.perTryTimeout"))
            .transpose()?,
    }))
}

fn fault_config(f: &Fault) -> Result<HttpFault, Untranslatable> {
    let delay = match &f.delay {
        None => None,
        Some(d) => Some(FaultDelay {
            fixed_delay: dur(&d.fixed_delay, "fault.delay.fixedDelay")?,
            percentage: fraction(d.percentage.as_ref())?,
        }),
    };
    let abort = match &f.abort {
        None => None,
        Some(a) if !(200..600).contains(&a.http_status) => {
            return Err(Untranslatable(format!(
                "fault.abort.httpStatus {} is not an HTTP status",
                a.http_status
            )))
        }
        Some(a) => Some(FaultAbort {
            http_status: a.http_status,
            percentage: fraction(a.percentage.as_ref())?,
        }),
    };
    Ok(HttpFault { delay, abort })
}
