//! OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set. The standard variables apply: `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or
//! `grpc`), `OTEL_SERVICE_NAME` (default: the service's name), `OTEL_TRACES_SAMPLER` / `_ARG` (read by
//! the SDK; default `parentbased_always_on`), `OTEL_EXPORTER_OTLP_TIMEOUT` / `_TRACES_TIMEOUT`,
//! `OTEL_EXPORTER_OTLP_HEADERS` / `_TRACES_HEADERS`, `OTEL_BSP_*`.
//!
//! The two spans a request can have (the server span, [`crate::http::trace`], and the aggregator's
//! client span, [`client_span`]) are made with the OpenTelemetry API directly; the server span's
//! [`Context`] travels in the request's extensions and is handed explicitly ([`Parent`]) to the
//! client span, never attached to the task: nothing else in the project makes spans, and going through
//! `tracing` spans and the `tracing-opentelemetry` layer cost several times more per span (BENCHMARKS.md,
//! "The cost of observability"). Log lines carry no span fields, so no correlation is lost.
//!
//! Spans leave through the SDK's batch processor, on its own thread: ending a span only appends it to
//! a bounded queue (dropped when full) without waking anything; the thread exports every 512 spans or
//! every 5 s. A collector that is down or never answers slows no request and fails none; the first
//! failed export logs one warning ([`exporter`]).
//!
//! * [`exporter`]: the OTLP exporter for the configured protocol, and its one warning.
//! * `http_export`, `encode`: OTLP/HTTP export, spans encoded to protobuf without intermediate
//!   structures.
//! * `names`: span names and route attributes made `'static` once per route, not formatted per span.
//! * [`propagate`]: the caller's context from `traceparent` (W3C) or B3, and the context a client span
//!   sends on.
//! * [`w3c`]: W3C Trace Context's `traceparent`, read and written without allocating.
//! * [`b3`]: Zipkin's B3 headers (what Istio's Zipkin tracing sends).

pub mod b3;
mod encode;
pub mod exporter;
mod http_export;
mod names;
pub mod propagate;
pub mod w3c;

#[cfg(test)]
mod per_op;

use std::convert::Infallible;
use std::sync::OnceLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
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
    /// This span as the parent of the spans its request makes (put in the request's extensions by
    /// [`crate::http::trace`], read by the handler as a [`Parent`] extractor).
    pub fn parent(&self) -> Parent {
        Parent(self.0.clone())
    }

    /// Records the response status (a client span learns it before the body has arrived).
    pub fn record_status(&self, status: StatusCode) {
        if let Some(cx) = &self.0 {
            cx.span()
                .set_attribute(KeyValue::new(STATUS_CODE, i64::from(status.as_u16())));
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

/// The context a request's outbound calls continue: the server span's, passed explicitly to the
/// client span ([`client_span`]) instead of being attached to the task on every poll of the request
/// (which cost a thread-local push and pop per poll). An extractor: empty when traces are off or the
/// request has no server span.
#[derive(Clone, Debug, Default)]
pub struct Parent(Option<Context>);

impl<S: Send + Sync> FromRequestParts<S> for Parent {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Parent>()
            .cloned()
            .unwrap_or_default())
    }
}

fn set_status(span: &SpanRef<'_>, status: StatusCode) {
    span.set_attribute(KeyValue::new(STATUS_CODE, i64::from(status.as_u16())));
    if status.is_server_error() && span.span_context().is_valid() {
        span.set_status(Status::error(""));
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
    let (name, route) = names::get(method, route);
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes(
            KeyValue::new(METHOD, method),
            KeyValue::new(ROUTE, route),
        ))
        .start_with_context(tracer, &parent);
    Traced(Some(parent.with_span(span)))
}

/// A client span for an outbound `method path`, a child of `parent` (a new trace without one), with
/// its context written into `headers`; nothing, and untouched headers, when traces are off.
pub fn client_span(
    parent: &Parent,
    method: &'static str,
    path: &'static str,
    headers: &mut HeaderMap,
) -> Traced {
    let Some(tracer) = tracer() else {
        return Traced(None);
    };
    let (name, _) = names::get(method, path);
    let builder = tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attributes(
            KeyValue::new(METHOD, method),
            KeyValue::new(URL_PATH, path),
        ));
    let cx = match &parent.0 {
        Some(parent) => {
            let span = builder.start_with_context(tracer, parent);
            parent.with_span(span)
        }
        None => {
            let root = Context::new();
            let span = builder.start_with_context(tracer, &root);
            root.with_span(span)
        }
    };
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
