//! What a span costs, part by part, single thread (a measurement, not a check):
//! `cargo test --release -p kyc-common --lib -- --ignored --nocapture per_op`.
//!
//! Compares the server span made with the OpenTelemetry API ([`super::server_span`]) with the same
//! span made as before, through a `tracing` span and the `tracing-opentelemetry` layer, and measures
//! the parts around it: extracting the caller's context (W3C, B3), injecting a client span's, handing
//! the ended span to the SDK's thread-based batch processor (now) or the one on the async runtime
//! (before), and encoding it to OTLP protobuf (per span, in batches of 512), through
//! `opentelemetry-proto` (before) and `encode.rs` (now).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Context;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    span_processor_with_async_runtime, BatchSpanProcessor, SdkTracer, SdkTracerProvider, Span,
    SpanData, SpanExporter, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use prost::Message;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

use super::encode::{self, Preamble};
use super::{propagate, server_span_with};

/// Keeps the ended spans (`keep`), or drops them: span cost without any export.
#[derive(Debug, Default)]
struct Sink {
    keep: bool,
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl SpanProcessor for Sink {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        if self.keep {
            if let Ok(mut spans) = self.spans.lock() {
                spans.push(span);
            }
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

const N: u32 = 200_000;

fn ns(f: &mut dyn FnMut()) -> f64 {
    let started = Instant::now();
    (0..N).for_each(|_| f());
    started.elapsed().as_nanos() as f64 / f64::from(N)
}

fn tracer(processor: impl SpanProcessor + 'static) -> (SdkTracerProvider, SdkTracer) {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(Resource::builder().with_service_name("bench").build())
        .build();
    let tracer = provider.tracer("bench");
    (provider, tracer)
}

fn inbound(w3c: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    if w3c {
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
    } else {
        h.insert(
            "x-b3-traceid",
            HeaderValue::from_static("463ac35c9f6413ad48485a3953bb6124"),
        );
        h.insert("x-b3-spanid", HeaderValue::from_static("a2fb4a1d1a96d312"));
        h.insert("x-b3-sampled", HeaderValue::from_static("1"));
    }
    h
}

/// The server span as the middleware makes it now, ended with a status.
fn direct(tracer: &SdkTracer, headers: &HeaderMap) {
    server_span_with(tracer, "POST", "/kyc/v1/customer", headers).end(Some(StatusCode::OK));
}

/// The server span as it was made before: a `tracing` span turned into an OpenTelemetry span by the
/// layer (entered and exited twice, as an instrumented future polled twice).
fn through_layer(headers: &HeaderMap) {
    let (method, route) = ("POST", "/kyc/v1/customer".to_owned());
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    let _ = span.set_parent(propagate::extract(headers));
    for _ in 0..2 {
        let _entered = span.enter();
    }
    span.record("http.response.status_code", 200i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn per_op_cost_of_a_span() {
    let (w3c, b3) = (inbound(true), inbound(false));
    let (_p0, discard) = tracer(Sink::default());
    let (_p1, thread) = tracer(BatchSpanProcessor::builder(Discard).build());
    let (_p2, on_runtime) = tracer(
        span_processor_with_async_runtime::BatchSpanProcessor::builder(
            Discard,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build(),
    );
    let layered = tracing::Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(discard.clone())
                .with_tracked_inactivity(false)
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_level(false),
        ),
    );
    let kept = Sink {
        keep: true,
        ..Sink::default()
    };
    let spans = kept.spans.clone();
    let (_p3, keeper) = tracer(kept);
    (0..512).for_each(|_| direct(&keeper, &w3c));
    let batch = spans.lock().map(|s| s.clone()).unwrap_or_default();
    let resource =
        ResourceAttributesWithSchema::from(&Resource::builder().with_service_name("bench").build());
    let client = propagate::extract(&w3c);
    for _ in 0..3 {
        let extract_w3c = ns(&mut || drop(propagate::extract(&w3c)));
        let extract_b3 = ns(&mut || drop(propagate::extract(&b3)));
        let inject = ns(&mut || propagate::inject(&client, &mut HeaderMap::new()));
        let span_direct = ns(&mut || direct(&discard, &w3c));
        let span_layer =
            tracing::dispatcher::with_default(&layered, || ns(&mut || through_layer(&w3c)));
        let to_thread = ns(&mut || direct(&thread, &w3c));
        let to_runtime = ns(&mut || direct(&on_runtime, &w3c));
        let started = Instant::now();
        for _ in 0..20 {
            let request = ExportTraceServiceRequest {
                resource_spans: group_spans_by_resource_and_scope(batch.clone(), &resource),
            };
            drop(request.encode_to_vec());
        }
        let encode = started.elapsed().as_nanos() as f64 / (20.0 * batch.len() as f64);
        // The same batch (cloned and freed too, as the exporter frees what it is given) written by
        // `encode.rs` straight from the span data.
        let preamble = Preamble::new(&Resource::builder().with_service_name("bench").build());
        let mut body = Vec::new();
        let started = Instant::now();
        for _ in 0..20 {
            let spans = batch.clone();
            encode::request(&mut body, &preamble, &spans);
            drop(spans);
        }
        let direct_encode = started.elapsed().as_nanos() as f64 / (20.0 * batch.len() as f64);
        eprintln!(
            "ns per op: extract W3C {extract_w3c:.0}, extract B3 {extract_b3:.0}, inject W3C+B3 {inject:.0}; \
             server span (W3C parent, ended, not exported): OpenTelemetry API {span_direct:.0}, via \
             tracing-opentelemetry {span_layer:.0}; the same direct span through the thread batch \
             processor {to_thread:.0}, through the async-runtime one {to_runtime:.0}; OTLP protobuf \
             conversion + encoding per span (batches of {}): opentelemetry-proto {encode:.0}, \
             encode.rs {direct_encode:.0}",
            batch.len()
        );
    }
}
