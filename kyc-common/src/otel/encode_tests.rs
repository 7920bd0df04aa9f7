//! The encoder against `opentelemetry-proto`'s conversion and encoding, over every field and value kind.

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::trace::{Event, Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
use prost::Message;

use super::*;

fn context(trace: u128, span: u64, remote: bool, state: &str) -> SpanContext {
    SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        TraceFlags::SAMPLED,
        remote,
        state.parse::<TraceState>().unwrap(),
    )
}

fn span(n: u64, scope: &InstrumentationScope) -> SpanData {
    let at = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789 + n);
    let mut events = SpanEvents::default();
    let mut links = SpanLinks::default();
    if n % 2 == 1 {
        events.events.push(Event::new(
            "event",
            at,
            vec![KeyValue::new("k", "v"), KeyValue::new("n", -3_i64)],
            1,
        ));
        events.dropped_count = 2;
        links.links.push(Link::new(
            context(7, 8, true, "a=b"),
            vec![KeyValue::new("link", true)],
            0,
        ));
        links.dropped_count = 1;
    }
    SpanData {
        span_context: context(
            0x0af7651916cd43dd8448eb211c80319c,
            0xb7ad6b7169203331 + n,
            false,
            if n == 0 { "" } else { "x=1,y=2" },
        ),
        parent_span_id: if n == 2 {
            SpanId::INVALID
        } else {
            SpanId::from(42 + n)
        },
        parent_span_is_remote: n == 1,
        span_kind: [
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Internal,
            SpanKind::Producer,
            SpanKind::Consumer,
        ][n as usize % 5]
            .clone(),
        name: if n == 0 {
            Cow::Borrowed("POST /kyc/v1/customer")
        } else {
            Cow::Owned(format!("span {n}"))
        },
        start_time: at,
        end_time: at + Duration::from_micros(250),
        attributes: vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", String::from("/credit-check/report")),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("empty", ""),
            KeyValue::new("f", 0.5_f64),
            KeyValue::new("no", false),
            KeyValue::new("ints", Value::Array(Array::I64(vec![1, -1, 0]))),
            KeyValue::new(
                "strs",
                Value::Array(Array::String(vec!["a".into(), "".into()])),
            ),
            KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("floats", Value::Array(Array::F64(vec![1.5, 0.0]))),
        ],
        dropped_attributes_count: n as u32,
        events,
        links,
        status: match n % 3 {
            0 => Status::Unset,
            1 => Status::error("upstream 503"),
            _ => Status::Ok,
        },
        instrumentation_scope: scope.clone(),
    }
}

#[test]
fn same_message_as_opentelemetry_proto() {
    let resource = Resource::builder()
        .with_service_name("kyc-aggregator-mgt")
        .with_attribute(KeyValue::new("deployment.count", 3_i64))
        .build();
    let ours = InstrumentationScope::builder("kyc-common")
        .with_version("0.1.0")
        .build();
    let other = InstrumentationScope::builder("other")
        .with_attributes([KeyValue::new("a", "b")])
        .build();
    let spans: Vec<SpanData> = (0..6)
        .map(|n| span(n, if n == 3 { &other } else { &ours }))
        .collect();
    let mut body = vec![1, 2, 3];
    request(&mut body, &Preamble::new(&resource), &spans);
    let decoded = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
    let expected = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            spans,
            &ResourceAttributesWithSchema::from(&resource),
        ),
    };
    assert_eq!(decoded, expected);
    // Same bytes too (same field order, defaults omitted), apart from the always-written status.
    assert_eq!(body.len(), expected.encode_to_vec().len());
}

#[test]
fn an_empty_batch_is_an_empty_resource_spans() {
    let mut body = Vec::new();
    request(&mut body, &Preamble::default(), &[]);
    let decoded = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
    assert_eq!(decoded.resource_spans.len(), 1);
    assert!(decoded.resource_spans[0].scope_spans.is_empty());
}
