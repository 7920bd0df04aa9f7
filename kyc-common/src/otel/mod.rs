//! OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set. The standard variables apply: `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or
//! `grpc`), `OTEL_SERVICE_NAME` (default: the service's name), `OTEL_TRACES_SAMPLER` / `_ARG` (read by
//! the SDK; default `parentbased_always_on`), `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*`.
//!
//! The two spans a request can have (the server span, [`crate::http::trace`], and the aggregator's
//! client span, [`client_span`]) are made with the OpenTelemetry API directly and travel with the
//! request as an OpenTelemetry [`Context`]: nothing else in the project makes spans, and going through
//! `tracing` spans and the `tracing-opentelemetry` layer cost several times more per span (BENCHMARKS.md,
//! "The cost of observability"). Log lines carry no span fields, so no correlation is lost.
//!
//! Spans leave through the SDK's batch processor, on its own thread: ending a span only appends it to
//! a bounded queue (dropped when full) without waking anything; the thread exports every 512 spans or
//! every 5 s. A collector that is down or never answers slows no request and fails none; the first
//! failed export logs one warning ([`exporter`]).
//!
//! * [`exporter`]: the OTLP exporter for the configured protocol, and its one warning.
//! * [`propagate`]: the caller's context from `traceparent` (W3C) or B3, and the context a client span
//!   sends on.
//! * [`w3c`]: W3C Trace Context's `traceparent`, read and written without allocating.
//! * [`b3`]: Zipkin's B3 headers (what Istio's Zipkin tracing sends).

pub mod b3;
pub mod exporter;
pub mod propagate;
pub mod w3c;

#[cfg(test)]
mod per_op;

use std::future::Future;
use std::sync::OnceLock;

use axum::http::{HeaderMap, StatusCode};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{SpanKind, SpanRef, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

/// Attribute keys (OpenTelemetry HTTP semantic conventions), `'static`: no allocation per span.
pub const METHOD: &str = "http.request.method";
pub const ROUTE: &str = "http.route";
pub const STATUS_CODE: &str = "http.response.status_code";
pub const URL_PATH: &str = "url.path";

/// The provider (flushed by [`shutdown`]) and its tracer, once traces are on.
static TRACES: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// Whether spans are exported (and so whether the server and client spans are made at all).
pub fn enabled() -> bool {
    TRACES.get().is_some()
}

fn tracer() -> Option<&'static SdkTracer> {
    TRACES.get().map(|(_, tracer)| tracer)
}

/// Whether the environment asks for traces.
pub fn requested(var: impl Fn(&str) -> Option<String>) -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|k| var(k).is_some_and(|v| !v.trim().is_empty()))
}

/// Turns traces on when the environment asks for them (does nothing otherwise, or the second time).
/// Must run inside the Tokio runtime (the gRPC exporter's channel lives on it).
pub fn init(service: &str) {
    if enabled() || !requested(|k| std::env::var(k).ok()) {
        return;
    }
    let exporter = match exporter::build() {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("traces off: cannot build the OTLP exporter: {e}");
            return;
        }
    };
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        Resource::builder().build()
    } else {
        Resource::builder()
            .with_service_name(service.to_owned())
            .build()
    };
    // The SDK's thread-based processor (batch settings from `OTEL_BSP_*`): unlike the one on the
    // async runtime, which woke its task for every span, a span's end is a queue push only.
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter).build())
        .with_resource(resource)
        .build();
    // The instrumentation scope is this module (static strings: cloned into every span for free).
    let scope = InstrumentationScope::builder("kyc-common")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let tracer = provider.tracer_with_scope(scope);
    let _ = TRACES.set((provider, tracer));
}

/// A started span with its context (parent included), or nothing when traces are off. Dropped without
/// [`Traced::end`] (a cancelled request), the span still ends and is exported.
#[derive(Debug, Default)]
pub struct Traced(Option<Context>);

impl Traced {
    /// Runs `fut` with this span as the current context (spans made inside are its children).
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        match &self.0 {
            Some(cx) => fut.with_context(cx.clone()).await,
            None => fut.await,
        }
    }

    /// Ends the span, with the response status when there is one (a 5xx marks it failed).
    pub fn end(self, status: Option<StatusCode>) {
        let Some(cx) = self.0 else { return };
        let span = cx.span();
        if let Some(status) = status {
            set_status(&span, status);
        }
        span.end();
    }
}

fn set_status(span: &SpanRef<'_>, status: StatusCode) {
    span.set_attribute(KeyValue::new(STATUS_CODE, i64::from(status.as_u16())));
    if status.is_server_error() && span.span_context().is_valid() {
        span.set_status(Status::error(""));
    }
}

/// Records the response status on the current span (the client span of [`client_span`] inside its
/// [`Traced::run`]); nothing when traces are off.
pub fn record_status(status: StatusCode) {
    if enabled() {
        Context::map_current(|cx| {
            cx.span()
                .set_attribute(KeyValue::new(STATUS_CODE, i64::from(status.as_u16())))
        });
    }
}

/// A span's first two attributes, with room for the status (the SDK keeps this `Vec`: recording the
/// status does not reallocate it).
fn attributes(first: KeyValue, second: KeyValue) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(3);
    attributes.extend([first, second]);
    attributes
}

/// The server span `METHOD route` of an inbound request, continuing the caller's `traceparent` or B3.
pub fn server_span(method: &'static str, route: &str, headers: &HeaderMap) -> Traced {
    match tracer() {
        Some(tracer) => server_span_with(tracer, method, route, headers),
        None => Traced(None),
    }
}

fn server_span_with(
    tracer: &SdkTracer,
    method: &'static str,
    route: &str,
    headers: &HeaderMap,
) -> Traced {
    let parent = propagate::extract(headers);
    let span = tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_attributes(attributes(
            KeyValue::new(METHOD, method),
            KeyValue::new(ROUTE, route.to_owned()),
        ))
        .start_with_context(tracer, &parent);
    Traced(Some(parent.with_span(span)))
}

/// A client span for an outbound `method path` (a child of the current context's span), with its
/// context written into `headers`; nothing, and untouched headers, when traces are off.
pub fn client_span(method: &'static str, path: &'static str, headers: &mut HeaderMap) -> Traced {
    let Some(tracer) = tracer() else {
        return Traced(None);
    };
    let parent = Context::current();
    let span = tracer
        .span_builder(format!("{method} {path}"))
        .with_kind(SpanKind::Client)
        .with_attributes(attributes(
            KeyValue::new(METHOD, method),
            KeyValue::new(URL_PATH, path),
        ))
        .start_with_context(tracer, &parent);
    let cx = parent.with_span(span);
    propagate::inject(&cx, headers);
    Traced(Some(cx))
}

/// Exports what is still queued (within 2 s) at exit. The processor's shutdown blocks until its
/// thread has exported, which the gRPC exporter does on this runtime: it runs on a blocking thread,
/// not on a runtime worker, so a runtime with one worker cannot stall it.
pub async fn shutdown() {
    if let Some((provider, _)) = TRACES.get() {
        let provider = provider.clone();
        let _ = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(std::time::Duration::from_secs(2))
        })
        .await;
    }
}
