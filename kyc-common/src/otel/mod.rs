//! OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set. The standard variables apply: `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or
//! `grpc`), `OTEL_SERVICE_NAME` (default: the service's name), `OTEL_TRACES_SAMPLER` / `_ARG` (read by
//! the SDK; default `parentbased_always_on`), `OTEL_EXPORTER_OTLP_TIMEOUT`.
//!
//! Spans leave through a batch processor on the Tokio runtime: a request only appends its span to a
//! bounded queue (dropped when full), so a collector that is down or never answers slows no request and
//! fails none; the first failed export logs one warning ([`exporter`]).
//!
//! * [`exporter`]: the OTLP exporter for the configured protocol, and its one warning.
//! * [`propagate`]: the caller's context from `traceparent` (W3C) or B3, and the context a client span
//!   sends on.
//! * [`b3`]: Zipkin's B3 headers (what Istio's Zipkin tracing sends).

pub mod b3;
pub mod exporter;
pub mod propagate;

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::registry::LookupSpan;

/// The provider, once traces are on (flushed by [`shutdown`]).
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether spans are exported (and so whether the server and client spans are made at all).
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
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

/// The tracing layer that turns this project's spans into OpenTelemetry spans, when traces are
/// requested; `None` (and nothing else happens) otherwise. Must run inside the Tokio runtime.
pub fn layer<S>(
    service: &str,
) -> Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    if !requested(|k| std::env::var(k).ok()) {
        return None;
    }
    let exporter = match exporter::build() {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("traces off: cannot build the OTLP exporter: {e}");
            return None;
        }
    };
    let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        Resource::builder().build()
    } else {
        Resource::builder()
            .with_service_name(service.to_owned())
            .build()
    };
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer(service.to_owned());
    let _ = PROVIDER.set(provider);
    // Only what a span needs: no busy/idle timing, source location, thread or target attributes.
    Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_tracked_inactivity(false)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false),
    )
}

/// A client span for an outbound `POST path` (a child of the current span), with its context written
/// into `headers`; a disabled span and untouched headers when traces are off.
pub fn client_span(
    method: &'static str,
    path: &'static str,
    headers: &mut axum::http::HeaderMap,
) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "outbound",
        otel.name = format!("{method} {path}"),
        otel.kind = "client",
        http.request.method = method,
        url.path = path,
        http.response.status_code = tracing::field::Empty,
    );
    propagate::inject(
        &tracing_opentelemetry::OpenTelemetrySpanExt::context(&span),
        headers,
    );
    span
}

/// Exports what is still queued (bounded by the exporter's timeout) at exit.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown_with_timeout(std::time::Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_are_requested_by_either_endpoint_variable_only() {
        let none = |_: &str| None;
        assert!(!requested(none));
        assert!(requested(
            |k| (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://c:4318".into())
        ));
        assert!(requested(|k| (k == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .then(|| "http://c:4318/v1/traces".into())));
        assert!(!requested(|_| Some("  ".into())));
    }
}
