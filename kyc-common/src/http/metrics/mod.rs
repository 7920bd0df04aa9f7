//! `GET /metrics`: the service's metrics, rendered by `prometheus-client` in the format the scraper
//! asks for ([`negotiate`]): OpenMetrics 1.0 (`application/openmetrics-text`, ends with `# EOF`) when
//! the `Accept` header prefers it, as Prometheus' own does; the Prometheus text format 0.0.4 otherwise.
//! Each service has its own registry (never a process-global one, so that several services in one
//! test process keep their counts apart).
//!
//! * `http_server_request_duration_seconds{http_request_method, http_route, http_response_status_code}`:
//!   a histogram per request (OpenTelemetry's HTTP semantic conventions, in Prometheus spelling).
//!   `http_route` is the matched route template, never the raw path; every unmatched path shares
//!   [`UNMATCHED_ROUTE`] and every unknown method `_OTHER`, so the label set is bounded whatever a
//!   client sends. Probes and `/metrics` are not business traffic: not counted.
//! * `kyc_build_info{service, version, instance, build}` = 1.
//! * Domain metrics are recorded by the services with [`Metrics::increment`] and
//!   [`Metrics::observe`] (counters are named `…_total`, as both formats want).
//!
//! Per-request recording resolves each label set's handle once (the first observation registers its
//! series) and reuses it afterwards: an atomic add for a counter, a bucket search and a short lock for
//! a histogram; no key is built, hashed and looked up per request (BENCHMARKS.md, "The cost of
//! observability").
//!
//! No label is ever taken from a request body or an applicant field.

mod store;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::store::{Kind, Labels, Store};
use super::context::ServiceContext;
use crate::domain::ServedBy;

pub use self::store::Format;

pub const METRICS_PATH: &str = "/metrics";
pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
pub const BUILD_INFO: &str = "kyc_build_info";
/// The `http_route` of every request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// The Prometheus text exposition format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// OpenMetrics 1.0 text.
pub const OPENMETRICS_FORMAT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Routes that are not business traffic: not counted.
const NOT_COUNTED: &[&str] = &[
    "/healthz",
    "/readyz",
    "/version",
    METRICS_PATH,
    super::chaos_admin::CHAOS_ADMIN_PATH,
];
/// Seconds; every histogram of a service uses them (0.5 ms .. 10 s).
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// At most this many labels of a domain metric come from fixed sets (`&'static str`).
const FIXED_LABELS: usize = 2;
/// A domain metric's handle: the addresses and lengths of its name, its fixed labels' names and values
/// (unused slots 0) and the name of its one label whose value is not `'static` (0 if none), compared
/// as integers. The map key of [`Handles`] is that label's value, or the metric's name when there is
/// none (the key part tells the two apart). Equal strings at two addresses only make two entries for
/// one series: the store returns the same handle for both.
type DomainKey = [(usize, usize); 2 + 2 * FIXED_LABELS];

/// Handles resolved once per label set, looked up by the one label value that is not `'static` (the
/// route, a reason code; for a domain metric without one, its name), then by the fixed part in a
/// short list.
/// Bounded because every label value is (routes are templates, codes and types come from fixed sets).
struct Handles<S, H> {
    map: RwLock<HandleMap<S, H>>,
}

type HandleMap<S, H> = HashMap<Box<str>, Vec<(S, H)>>;

impl<S: Copy + Eq, H> Handles<S, H> {
    fn new() -> Self {
        Handles {
            map: RwLock::new(HashMap::new()),
        }
    }

    /// Applies `record` to the handle of (`dynamic`, `fixed`), registering it with `register` the
    /// first time.
    fn with(&self, dynamic: &str, fixed: S, register: impl FnOnce() -> H, record: impl FnOnce(&H)) {
        {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, handle)) = map
                .get(dynamic)
                .and_then(|list| list.iter().find(|(s, _)| *s == fixed))
            {
                record(handle);
                return;
            }
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let list = map.entry(dynamic.into()).or_default();
        let at = match list.iter().position(|(s, _)| *s == fixed) {
            Some(at) => at,
            None => {
                list.push((fixed, register()));
                list.len() - 1
            }
        };
        record(&list[at].1);
    }
}

/// One service's metrics.
pub struct Metrics {
    store: Store,
    /// `KYC_METRICS=false`: nothing is recorded (to measure what recording costs).
    enabled: bool,
    /// [`REQUEST_DURATION`] by route, then (method, status).
    requests: Handles<(&'static str, u16), Histogram>,
    counters: Handles<DomainKey, Counter>,
    histograms: Handles<DomainKey, Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with the HTTP histogram described and `kyc_build_info` set; with `enabled` false,
    /// only `kyc_build_info` is ever recorded.
    pub fn new(identity: &ServedBy, build: &str, enabled: bool) -> Self {
        let store = Store::new(DURATION_BUCKETS);
        store.describe(
            REQUEST_DURATION,
            Kind::Histogram,
            "Duration of HTTP server requests (probes and /metrics excluded)",
        );
        store.describe(BUILD_INFO, Kind::Gauge, "1, labelled with what is running");
        let labels: Labels = vec![
            ("service", identity.service.clone().into()),
            ("version", identity.version.clone().into()),
            ("instance", identity.instance.clone().into()),
            ("build", build.to_owned().into()),
        ];
        store.gauge(BUILD_INFO, labels).set(1);
        Metrics {
            store,
            enabled,
            requests: Handles::new(),
            counters: Handles::new(),
            histograms: Handles::new(),
        }
    }

    /// Whether anything but `kyc_build_info` is recorded (`KYC_METRICS`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Gives the counter `name` (ending in `_total`) its help text (at start-up).
    pub fn describe_counter(&self, name: &'static str, help: &str) {
        if self.enabled {
            self.store.describe(name, Kind::Counter, help);
        }
    }

    /// Gives the histogram `name` its help text (at start-up).
    pub fn describe_histogram(&self, name: &'static str, help: &str) {
        if self.enabled {
            self.store.describe(name, Kind::Histogram, help);
        }
    }

    /// Adds 1 to the counter `name{fixed..., dynamic}` (labels in that order; `dynamic`, if any, is
    /// the one label whose value is not `'static`). At most two fixed labels. `name` ends in `_total`.
    pub fn increment(
        &self,
        name: &'static str,
        fixed: &[(&'static str, &'static str)],
        dynamic: Option<(&'static str, &str)>,
    ) {
        if !self.enabled {
            return;
        }
        let key = domain_key(name, fixed, dynamic.map(|(label, _)| label));
        self.counters.with(
            dynamic.map_or(name, |(_, value)| value),
            key,
            || self.store.counter(name, labels(fixed, dynamic)),
            |counter| {
                counter.inc();
            },
        );
    }

    /// Observes `value` in the histogram `name{fixed...}` (at most two labels, all from fixed sets).
    pub fn observe(&self, name: &'static str, fixed: &[(&'static str, &'static str)], value: f64) {
        if !self.enabled {
            return;
        }
        self.histograms.with(
            name,
            domain_key(name, fixed, None),
            || self.store.histogram(name, labels(fixed, None)),
            |histogram| histogram.observe(value),
        );
    }

    /// Observes one business request in [`REQUEST_DURATION`].
    pub fn observe_request(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        if !self.enabled {
            return;
        }
        self.requests.with(
            route,
            (method, status),
            || {
                let labels: Labels = vec![
                    ("http_request_method", method.into()),
                    ("http_route", route.to_owned().into()),
                    ("http_response_status_code", status.to_string().into()),
                ];
                self.store.histogram(REQUEST_DURATION, labels)
            },
            |histogram| histogram.observe(seconds),
        );
    }

    /// Every metric, in `format`.
    pub fn render(&self, format: Format) -> String {
        self.store.render(format)
    }
}

fn domain_key(
    name: &'static str,
    fixed: &[(&'static str, &'static str)],
    dynamic: Option<&'static str>,
) -> DomainKey {
    assert!(fixed.len() <= FIXED_LABELS, "{name}: too many fixed labels");
    let at = |text: &'static str| (text.as_ptr() as usize, text.len());
    let mut key = [(0, 0); 2 + 2 * FIXED_LABELS];
    key[0] = at(name);
    if let Some(label) = dynamic {
        key[1 + 2 * FIXED_LABELS] = at(label);
    }
    for (slot, &(label, value)) in fixed.iter().enumerate() {
        key[1 + 2 * slot] = at(label);
        key[2 + 2 * slot] = at(value);
    }
    key
}

fn labels(fixed: &[(&'static str, &'static str)], dynamic: Option<(&'static str, &str)>) -> Labels {
    fixed
        .iter()
        .map(|&(label, value)| (label, value.into()))
        .chain(dynamic.map(|(label, value)| (label, value.to_owned().into())))
        .collect()
}

/// Whether requests to `route` are business traffic (probes and `/metrics` are not).
pub fn counted(route: &str) -> bool {
    !NOT_COUNTED.contains(&route)
}

/// `GET`, `POST`... as themselves; any other method as `_OTHER` (OpenTelemetry's convention).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// The middleware: one observation of [`REQUEST_DURATION`] per business request.
pub async fn track(State(ctx): State<Arc<ServiceContext>>, req: Request, next: Next) -> Response {
    if !ctx.metrics.enabled() {
        return next.run(req).await;
    }
    let route = match req.extensions().get::<MatchedPath>() {
        Some(path) if !counted(path.as_str()) => return next.run(req).await,
        Some(path) => Some(path.clone()),
        None => None,
    };
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    ctx.metrics
        .observe_request(method, route, response.status().as_u16(), seconds);
    response
}

/// The format an `Accept` header prefers: OpenMetrics when `application/openmetrics-text` has the
/// highest quality (the first listed wins a tie), the Prometheus text format otherwise (no header,
/// `text/plain`, `*/*`, anything unknown).
pub fn negotiate(headers: &HeaderMap) -> Format {
    let mut best = (Format::Text, -1.0_f32);
    for accept in headers.get_all(ACCEPT) {
        let Ok(accept) = accept.to_str() else {
            continue;
        };
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let format = match parts.next().map(str::to_ascii_lowercase).as_deref() {
                Some("application/openmetrics-text") => Format::OpenMetrics,
                Some("text/plain" | "*/*" | "text/*") => Format::Text,
                _ => continue,
            };
            let quality = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok());
            match quality {
                Some(q) if q > 0.0 && q > best.1 => best = (format, q),
                _ => {}
            }
        }
    }
    best.0
}

/// The service's metrics, in OpenMetrics or the Prometheus text format, as `Accept` asks.
#[utoipa::path(get, path = "/metrics", tag = "probes", responses(
    (status = 200, description = "The service's metrics: `http_server_request_duration_seconds`, \
`kyc_build_info` and its own. OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0; \
charset=utf-8`, ending with `# EOF`) when `Accept` prefers `application/openmetrics-text` (as \
Prometheus does); otherwise the Prometheus text format 0.0.4 (`text/plain; version=0.0.4; \
charset=utf-8`). Not counted as traffic.",
        content(
            (String = "text/plain"),
            (String = "application/openmetrics-text"))
        )))]
async fn metrics(State(ctx): State<Arc<ServiceContext>>, headers: HeaderMap) -> Response {
    let format = negotiate(&headers);
    let content_type = match format {
        Format::OpenMetrics => OPENMETRICS_FORMAT,
        Format::Text => TEXT_FORMAT,
    };
    (
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        ctx.metrics.render(format),
    )
        .into_response()
}

/// `GET /metrics`, documented.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<ServiceContext>: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(metrics))
}

#[cfg(test)]
mod tests;
