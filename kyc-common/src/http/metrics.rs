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
//! * Domain metrics are recorded by the services with [`Metrics::record`].
//!
//! No label is ever taken from a request body or an applicant field.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{describe_gauge, describe_histogram, gauge, histogram, Unit};
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
const NOT_COUNTED: &[&str] = &["/healthz", "/readyz", "/version", METRICS_PATH];
/// Seconds; every histogram of a service uses them (0.5 ms .. 10 s).
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Histogram samples are buffered until a scrape; without scrapes they are folded in this often.
const UPKEEP_EVERY_MS: u64 = 5_000;

/// One service's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    started: Instant,
    last_upkeep_ms: AtomicU64,
    /// `KYC_METRICS=false`: nothing is recorded (to measure what recording costs).
    enabled: bool,
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

    /// Runs `record` with this service's recorder as the `metrics` macros' recorder.
    pub fn record(&self, record: impl FnOnce()) {
        if !self.enabled {
            return;
        }
        metrics::with_local_recorder(&self.recorder, record);
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
    let route = match req.extensions().get::<MatchedPath>() {
        Some(path) if !counted(path.as_str()) => return next.run(req).await,
        Some(path) => path.as_str().to_owned(),
        None => UNMATCHED_ROUTE.to_owned(),
    };
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    ctx.metrics.record(|| {
        histogram!(REQUEST_DURATION,
            "http_request_method" => method,
            "http_route" => route,
            "http_response_status_code" => status)
        .record(seconds);
    });
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
mod tests {
    use super::*;

    fn identity() -> ServedBy {
        ServedBy {
            service: "svc".into(),
            version: "v1".into(),
            instance: "pod-a".into(),
        }
    }

    #[test]
    fn build_info_and_histogram_render_in_the_text_format() {
        let m = Metrics::new(&identity(), "0.1.0", true);
        m.record(|| {
            histogram!(REQUEST_DURATION, "http_route" => "/x").record(0.002);
        });
        let text = m.render();
        assert!(
            text.contains(
                r#"kyc_build_info{service="svc",version="v1",instance="pod-a",build="0.1.0"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
        assert!(text.contains(
            r#"http_server_request_duration_seconds_bucket{http_route="/x",le="0.0025"} 1"#
        ));
    }

    #[test]
    fn disabled_metrics_record_nothing_but_build_info() {
        let m = Metrics::new(&identity(), "0.1.0", false);
        m.record(|| histogram!(REQUEST_DURATION).record(1.0));
        let text = m.render();
        assert!(text.contains("kyc_build_info"));
        assert!(!text.contains(REQUEST_DURATION), "{text}");
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let odd = Method::from_bytes(b"BREW").expect("a method");
        assert_eq!(method_label(&odd), "_OTHER");
        assert_eq!(method_label(&Method::POST), "POST");
    }
}
