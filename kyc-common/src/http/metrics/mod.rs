//! `GET /metrics`: the service's Prometheus metrics (text exposition format 0.0.4), rendered by
//! `metrics-exporter-prometheus` from a recorder of the service's own (never the process-global one, so
//! that several services in one test process keep their counts apart).
//!
//! * `http_server_request_duration_seconds{http_request_method, http_route, http_response_status_code}`:
//!   a histogram per request (OpenTelemetry's HTTP semantic conventions, in Prometheus spelling).
//!   `http_route` is the matched route template, never the raw path; every unmatched path shares
//!   [`UNMATCHED_ROUTE`] and every unknown method `_OTHER`, so the label set is bounded whatever a
//!   client sends. Probes and `/metrics` are not business traffic: not counted.
//! * `kyc_build_info{service, version, instance, build}` = 1.
//! * Domain metrics are recorded by the services with [`Metrics::increment`] and
//!   [`Metrics::observe`].
//!
//! Per-request recording resolves each label set's handle once (the first observation registers it in
//! the recorder, as the `metrics` macros would) and reuses it afterwards: no key is built, hashed and
//! looked up in the recorder's registry per request, which is what made `/metrics` cost ~7 µs of CPU
//! per chain request (BENCHMARKS.md, "The cost of observability").
//!
//! No label is ever taken from a request body or an applicant field.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{
    describe_gauge, describe_histogram, gauge, Counter, Histogram, Key, Label, Level, Metadata,
    Recorder, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::context::ServiceContext;
use crate::domain::ServedBy;

pub const METRICS_PATH: &str = "/metrics";
pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
pub const BUILD_INFO: &str = "kyc_build_info";
/// The `http_route` of every request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// The Prometheus text exposition format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
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
/// Histogram samples are buffered until a scrape; without scrapes they are folded in this often.
const UPKEEP_EVERY_MS: u64 = 5_000;

/// What the `metrics` macros would pass; the Prometheus recorder ignores it.
const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// At most this many labels of a domain metric come from fixed sets (`&'static str`).
const FIXED_LABELS: usize = 2;
/// A domain metric's handle: the addresses and lengths of its name, its fixed labels' names and values
/// (unused slots 0) and the name of its one label whose value is not `'static` (0 if none), compared
/// as integers. The map key of [`Handles`] is that label's value, or the metric's name when there is
/// none (the key part tells the two apart). Equal strings at two addresses only make two entries for
/// one series: the recorder returns the same handle for both.
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
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    started: Instant,
    last_upkeep_ms: AtomicU64,
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
    /// A recorder with the HTTP histogram described and `kyc_build_info` set; with `enabled` false,
    /// only `kyc_build_info` is ever recorded.
    pub fn new(identity: &ServedBy, build: &str, enabled: bool) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(DURATION_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics {
            recorder,
            handle,
            started: Instant::now(),
            last_upkeep_ms: AtomicU64::new(0),
            enabled: true,
            requests: Handles::new(),
            counters: Handles::new(),
            histograms: Handles::new(),
        };
        let labels = [
            ("service", identity.service.clone()),
            ("version", identity.version.clone()),
            ("instance", identity.instance.clone()),
            ("build", build.to_owned()),
        ];
        metrics.record(|| {
            describe_histogram!(
                REQUEST_DURATION,
                Unit::Seconds,
                "Duration of HTTP server requests (probes and /metrics excluded)"
            );
            describe_gauge!(BUILD_INFO, "1, labelled with what is running");
            gauge!(BUILD_INFO, &labels).set(1.0);
        });
        Metrics { enabled, ..metrics }
    }

    /// Whether anything but `kyc_build_info` is recorded (`KYC_METRICS`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Runs `record` with this service's recorder as the `metrics` macros' recorder (descriptions at
    /// start-up; per-request recording goes through the cached handles of [`Metrics::increment`],
    /// [`Metrics::observe`] and [`Metrics::observe_request`]).
    pub fn record(&self, record: impl FnOnce()) {
        if !self.enabled {
            return;
        }
        metrics::with_local_recorder(&self.recorder, record);
        self.upkeep();
    }

    /// Adds 1 to the counter `name{fixed..., dynamic}` (labels in that order; `dynamic`, if any, is
    /// the one label whose value is not `'static`). At most two fixed labels.
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
            || {
                self.recorder
                    .register_counter(&metric_key(name, fixed, dynamic), &METADATA)
            },
            |counter| counter.increment(1),
        );
        self.upkeep();
    }

    /// Observes `value` in the histogram `name{fixed...}` (at most two labels, all from fixed sets).
    pub fn observe(&self, name: &'static str, fixed: &[(&'static str, &'static str)], value: f64) {
        if !self.enabled {
            return;
        }
        self.histograms.with(
            name,
            domain_key(name, fixed, None),
            || {
                self.recorder
                    .register_histogram(&metric_key(name, fixed, None), &METADATA)
            },
            |histogram| histogram.record(value),
        );
        self.upkeep();
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
                let key = Key::from_parts(
                    REQUEST_DURATION,
                    vec![
                        Label::new("http_request_method", method),
                        Label::new("http_route", route.to_owned()),
                        Label::new("http_response_status_code", status.to_string()),
                    ],
                );
                self.recorder.register_histogram(&key, &METADATA)
            },
            |histogram| histogram.record(seconds),
        );
        self.upkeep();
    }

    /// Folds buffered histogram samples every [`UPKEEP_EVERY_MS`] when nothing scrapes.
    fn upkeep(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_upkeep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= UPKEEP_EVERY_MS
            && self
                .last_upkeep_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.handle.run_upkeep();
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        self.handle.render()
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

fn metric_key(
    name: &'static str,
    fixed: &[(&'static str, &'static str)],
    dynamic: Option<(&'static str, &str)>,
) -> Key {
    let labels = fixed
        .iter()
        .map(|&(label, value)| Label::new(label, value))
        .chain(dynamic.map(|(label, value)| Label::new(label, value.to_owned())))
        .collect::<Vec<_>>();
    Key::from_parts(name, labels)
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

/// The service's metrics in the Prometheus text format (0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "probes", responses(
    (status = 200, description = "Prometheus metrics (text exposition format 0.0.4): \
`http_server_request_duration_seconds`, `kyc_build_info` and the service's own. Not counted as traffic.",
        content_type = "text/plain", body = String)))]
async fn metrics(State(ctx): State<Arc<ServiceContext>>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))],
        ctx.metrics.render(),
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
