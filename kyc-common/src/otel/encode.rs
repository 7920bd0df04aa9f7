//! A batch of ended spans written as an OTLP `ExportTraceServiceRequest` (protobuf) straight from the
//! SDK's `SpanData`, into one reused buffer.
//!
//! Why not `opentelemetry-proto`'s conversion: it first builds the generated message structs (ids
//! copied into `Vec`s, every attribute key and string value copied into a `String`, the scope hashed
//! per span), then encodes them, then frees them all: about 10k instructions a span, the largest
//! part of what tracing cost a request (BENCHMARKS.md, "The cost of observability"). Written directly,
//! a span costs its bytes. The output decodes to exactly what the maintained conversion produces
//! (`same_message_as_opentelemetry_proto`, over every field and value kind), so any OTLP collector
//! reads it the same.
//!
//! Field numbers: opentelemetry-proto's `trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto` and `collector/trace/v1/trace_service.proto`.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

/// `Span.flags`: the W3C trace flags, plus "whether the parent is remote is known" and "it is".
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// The parts of a request that are the same for every batch: the `Resource` message, encoded once.
#[derive(Debug, Clone, Default)]
pub struct Preamble {
    resource: Vec<u8>,
    schema_url: String,
}

impl Preamble {
    pub fn new(resource: &Resource) -> Self {
        let attributes: Vec<KeyValue> = resource
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        let mut bytes = Vec::new();
        for kv in &attributes {
            message(&mut bytes, 1, key_value_len(kv), |b| key_value(b, kv));
        }
        Preamble {
            resource: bytes,
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

/// Writes `spans` as one `ExportTraceServiceRequest` into `out` (cleared first).
pub fn request(out: &mut Vec<u8>, preamble: &Preamble, spans: &[SpanData]) {
    out.clear();
    // Each span's scope (grouped in the order each first appears; one scope in this project) and
    // encoded length, computed once: a nested message's length is written before its bytes.
    let mut scopes: Vec<(&InstrumentationScope, usize)> = Vec::new();
    let mut layout: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for span in spans {
        let scope = &span.instrumentation_scope;
        let at = match scopes.iter().rposition(|(s, _)| *s == scope) {
            Some(at) => at,
            None => {
                scopes.push((scope, 0));
                scopes.len() - 1
            }
        };
        let len = span_len(span);
        scopes[at].1 += nested_len(2, len);
        layout.push((at, len));
    }
    let scope_spans_len = |scope: &InstrumentationScope, spans_len: usize| {
        nested_len(1, scope_len(scope))
            + spans_len
            + string_len(3, scope.schema_url().unwrap_or(""))
    };
    let resource_spans_len = nested_len(1, preamble.resource.len())
        + scopes
            .iter()
            .map(|(scope, spans_len)| nested_len(2, scope_spans_len(scope, *spans_len)))
            .sum::<usize>()
        + string_len(3, &preamble.schema_url);
    out.reserve(nested_len(1, resource_spans_len));
    message(out, 1, resource_spans_len, |out| {
        message(out, 1, preamble.resource.len(), |out| {
            out.extend_from_slice(&preamble.resource)
        });
        for (at, (scope, spans_len)) in scopes.iter().enumerate() {
            message(out, 2, scope_spans_len(scope, *spans_len), |out| {
                message(out, 1, scope_len(scope), |out| scope_fields(out, scope));
                for (span, (_, len)) in spans.iter().zip(&layout).filter(|(_, (s, _))| *s == at) {
                    message(out, 2, *len, |out| span_fields(out, span));
                }
                string(out, 3, scope.schema_url().unwrap_or(""));
            });
        }
        string(out, 3, &preamble.schema_url);
    });
}

fn scope_len(scope: &InstrumentationScope) -> usize {
    string_len(1, scope.name())
        + string_len(2, scope.version().unwrap_or(""))
        + scope
            .attributes()
            .map(|kv| nested_len(3, key_value_len(kv)))
            .sum::<usize>()
}

fn scope_fields(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    string(out, 1, scope.name());
    string(out, 2, scope.version().unwrap_or(""));
    for kv in scope.attributes() {
        message(out, 3, key_value_len(kv), |out| key_value(out, kv));
    }
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// `Status`: its code (0 unset, 1 ok, 2 error) and message.
fn status(status: &Status) -> (u64, &str) {
    match status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error { description } => (2, description),
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn flags(span: &SpanData) -> u32 {
    let remote = if span.parent_span_is_remote {
        IS_REMOTE
    } else {
        0
    };
    u32::from(span.span_context.trace_flags().to_u8()) | HAS_IS_REMOTE | remote
}

fn span_len(span: &SpanData) -> usize {
    let (code, message) = status(&span.status);
    let parent = if span.parent_span_id == opentelemetry::trace::SpanId::INVALID {
        0
    } else {
        8
    };
    bytes_len(1, 16)
        + bytes_len(2, 8)
        + string_len(3, &span.span_context.trace_state().header())
        + if parent > 0 { bytes_len(4, parent) } else { 0 }
        + string_len(5, &span.name)
        + varint_len(6, kind(&span.span_kind))
        + 2 * (1 + 8)
        + span
            .attributes
            .iter()
            .map(|kv| nested_len(9, key_value_len(kv)))
            .sum::<usize>()
        + varint_len(10, u64::from(span.dropped_attributes_count))
        + span
            .events
            .iter()
            .map(|e| {
                let len = 1
                    + 8
                    + string_len(2, &e.name)
                    + e.attributes
                        .iter()
                        .map(|kv| nested_len(3, key_value_len(kv)))
                        .sum::<usize>()
                    + varint_len(4, u64::from(e.dropped_attributes_count));
                nested_len(11, len)
            })
            .sum::<usize>()
        + varint_len(12, u64::from(span.events.dropped_count))
        + span
            .links
            .iter()
            .map(|l| nested_len(13, link_len(l)))
            .sum::<usize>()
        + varint_len(14, u64::from(span.links.dropped_count))
        + nested_len(15, string_len(2, message) + varint_len(3, code))
        + 2
        + 4
}

fn span_fields(out: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    bytes(out, 1, &context.trace_id().to_bytes());
    bytes(out, 2, &context.span_id().to_bytes());
    string(out, 3, &context.trace_state().header());
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        bytes(out, 4, &span.parent_span_id.to_bytes());
    }
    string(out, 5, &span.name);
    varint(out, 6, kind(&span.span_kind));
    fixed64(out, 7, nanos(span.start_time));
    fixed64(out, 8, nanos(span.end_time));
    for kv in &span.attributes {
        message(out, 9, key_value_len(kv), |out| key_value(out, kv));
    }
    varint(out, 10, u64::from(span.dropped_attributes_count));
    for event in span.events.iter() {
        let len = 1
            + 8
            + string_len(2, &event.name)
            + event
                .attributes
                .iter()
                .map(|kv| nested_len(3, key_value_len(kv)))
                .sum::<usize>()
            + varint_len(4, u64::from(event.dropped_attributes_count));
        message(out, 11, len, |out| {
            fixed64(out, 1, nanos(event.timestamp));
            string(out, 2, &event.name);
            for kv in &event.attributes {
                message(out, 3, key_value_len(kv), |out| key_value(out, kv));
            }
            varint(out, 4, u64::from(event.dropped_attributes_count));
        });
    }
    varint(out, 12, u64::from(span.events.dropped_count));
    for link in span.links.iter() {
        message(out, 13, link_len(link), |out| {
            bytes(out, 1, &link.span_context.trace_id().to_bytes());
            bytes(out, 2, &link.span_context.span_id().to_bytes());
            string(out, 3, &link.span_context.trace_state().header());
            for kv in &link.attributes {
                message(out, 4, key_value_len(kv), |out| key_value(out, kv));
            }
            varint(out, 5, u64::from(link.dropped_attributes_count));
            fixed32(out, 6, link_flags(link));
        });
    }
    varint(out, 14, u64::from(span.links.dropped_count));
    let (code, text) = status(&span.status);
    message(out, 15, string_len(2, text) + varint_len(3, code), |out| {
        string(out, 2, text);
        varint(out, 3, code);
    });
    fixed32(out, 16, flags(span));
}

fn link_flags(link: &opentelemetry::trace::Link) -> u32 {
    let remote = if link.span_context.is_remote() {
        IS_REMOTE
    } else {
        0
    };
    u32::from(link.span_context.trace_flags().to_u8()) | HAS_IS_REMOTE | remote
}

fn link_len(link: &opentelemetry::trace::Link) -> usize {
    bytes_len(1, 16)
        + bytes_len(2, 8)
        + string_len(3, &link.span_context.trace_state().header())
        + link
            .attributes
            .iter()
            .map(|kv| nested_len(4, key_value_len(kv)))
            .sum::<usize>()
        + varint_len(5, u64::from(link.dropped_attributes_count))
        + 1
        + 4
}

/// `KeyValue { key = 1, value = 2 (AnyValue) }`.
fn key_value_len(kv: &KeyValue) -> usize {
    string_len(1, kv.key.as_str()) + nested_len(2, any_value_len(&kv.value))
}

fn key_value(out: &mut Vec<u8>, kv: &KeyValue) {
    string(out, 1, kv.key.as_str());
    message(out, 2, any_value_len(&kv.value), |out| {
        any_value(out, &kv.value)
    });
}

/// `AnyValue`: string 1, bool 2, int 3, double 4, array 5 (`ArrayValue { values = 1 }`). A oneof:
/// a set member is written even when it is the default (unlike a plain field).
fn any_value_len(value: &Value) -> usize {
    match value {
        Value::Bool(_) => 2,
        Value::I64(i) => 1 + encoded_len_varint(*i as u64),
        Value::F64(_) => 1 + 8,
        Value::String(s) => member_len(s.as_str().len()),
        Value::Array(array) => member_len(array_len(array)),
        other => member_len(other.as_str().len()),
    }
}

fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(b) => {
            encode_key(2, WireType::Varint, out);
            encode_varint(u64::from(*b), out);
        }
        Value::I64(i) => {
            encode_key(3, WireType::Varint, out);
            encode_varint(*i as u64, out);
        }
        Value::F64(f) => {
            encode_key(4, WireType::SixtyFourBit, out);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::String(s) => member(out, 1, s.as_str().as_bytes()),
        Value::Array(array) => {
            encode_key(5, WireType::LengthDelimited, out);
            encode_varint(array_len(array) as u64, out);
            array_values(out, array);
        }
        other => member(out, 1, other.as_str().as_bytes()),
    }
}

fn array_len(array: &Array) -> usize {
    match array {
        Array::Bool(v) => v.len() * nested_len(1, 2),
        Array::I64(v) => v
            .iter()
            .map(|i| nested_len(1, 1 + encoded_len_varint(*i as u64)))
            .sum(),
        Array::F64(v) => v.len() * nested_len(1, 9),
        Array::String(v) => v
            .iter()
            .map(|s| nested_len(1, member_len(s.as_str().len())))
            .sum(),
        // A kind of array newer than this code: one string element.
        other => nested_len(1, member_len(other.to_string().len())),
    }
}

fn array_values(out: &mut Vec<u8>, array: &Array) {
    match array {
        Array::Bool(v) => v
            .iter()
            .for_each(|b| message(out, 1, 2, |out| any_value(out, &Value::Bool(*b)))),
        Array::I64(v) => v.iter().for_each(|i| {
            let value = Value::I64(*i);
            message(out, 1, any_value_len(&value), |out| any_value(out, &value))
        }),
        Array::F64(v) => v
            .iter()
            .for_each(|f| message(out, 1, 9, |out| any_value(out, &Value::F64(*f)))),
        Array::String(v) => v.iter().for_each(|s| {
            message(out, 1, member_len(s.as_str().len()), |out| {
                member(out, 1, s.as_str().as_bytes())
            })
        }),
        other => {
            let text = other.to_string();
            message(out, 1, member_len(text.len()), |out| {
                member(out, 1, text.as_bytes())
            })
        }
    }
}

// Wire-format helpers. Plain (proto3) fields are omitted when they hold their default value.

fn member_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn member(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn nested_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn message(out: &mut Vec<u8>, tag: u32, len: usize, body: impl FnOnce(&mut Vec<u8>)) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    body(out);
}

fn bytes_len(tag: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        nested_len(tag, len)
    }
}

fn bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        member(out, tag, bytes);
    }
}

fn string_len(tag: u32, text: &str) -> usize {
    bytes_len(tag, text.len())
}

fn string(out: &mut Vec<u8>, tag: u32, text: &str) {
    bytes(out, tag, text.as_bytes());
}

fn varint_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(value)
    }
}

fn varint(out: &mut Vec<u8>, tag: u32, value: u64) {
    if value != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(value, out);
    }
}

fn fixed64(out: &mut Vec<u8>, tag: u32, value: u64) {
    encode_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&value.to_le_bytes());
}

fn fixed32(out: &mut Vec<u8>, tag: u32, value: u32) {
    encode_key(tag, WireType::ThirtyTwoBit, out);
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
