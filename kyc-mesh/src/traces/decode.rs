//! OTLP in, the store's values out: `ExportTraceServiceRequest` and `ExportLogsServiceRequest`
//! decoded with the official protobuf types (`opentelemetry-proto`), from protobuf (OTLP/HTTP
//! `application/x-protobuf`, gRPC) or from OTLP/JSON (`application/json`: hex ids, camelCase,
//! enums as numbers, 64-bit numbers as strings or numbers). A payload that does not decode is an
//! error naming where; a span with a malformed id is dropped and counted (OTLP's partial
//! success); attributes are cut to [`SHOWN`] on the way.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;

use crate::envoy::telemetry::ACCESS_LOG_NAME;

use super::model::{shown_value, Kind, LogLine, Span, SpanId, TraceId, SHOWN};

/// A payload that is not OTLP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("not an OTLP protobuf {what}: {error}")]
    Protobuf { what: &'static str, error: String },
    #[error("not OTLP/JSON ({what}): {error}")]
    Json { what: &'static str, error: String },
}

/// What a payload held: the spans (or lines) kept, and how many were refused (malformed ids).
#[derive(Debug, PartialEq)]
pub(crate) struct Decoded<T> {
    pub(crate) items: Vec<T>,
    pub(crate) rejected: u64,
    /// Why the first refused one was refused.
    pub(crate) why: Option<String>,
}

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Decoded {
            items: Vec::new(),
            rejected: 0,
            why: None,
        }
    }
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Protobuf,
    Json,
}

pub(crate) fn trace_request(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportTraceServiceRequest, DecodeError> {
    const WHAT: &str = "ExportTraceServiceRequest";
    match encoding {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|e| DecodeError::Protobuf {
                what: WHAT,
                error: e.to_string(),
            })
        }
        Encoding::Json => json(body, WHAT),
    }
}

pub(crate) fn logs_request(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportLogsServiceRequest, DecodeError> {
    const WHAT: &str = "ExportLogsServiceRequest";
    match encoding {
        Encoding::Protobuf => {
            ExportLogsServiceRequest::decode(body).map_err(|e| DecodeError::Protobuf {
                what: WHAT,
                error: e.to_string(),
            })
        }
        Encoding::Json => json(body, WHAT),
    }
}

/// OTLP/JSON through the generated types' serde mapping; the error names the field's path.
fn json<T: serde::de::DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        DecodeError::Json {
            what,
            error: if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            },
        }
    })?;
    de.end().map_err(|e| DecodeError::Json {
        what,
        error: e.to_string(),
    })?;
    Ok(value)
}

fn text(v: Option<&AnyValue>) -> Option<String> {
    Some(match v?.value.as_ref()? {
        Value::StringValue(s) => s.clone(),
        other => scalar_text(other)?,
    })
}

/// [`text`] of a value the caller owns: a string is moved, not copied (the receiver's hot path:
/// every kept attribute and access-log line).
fn owned_text(v: Option<AnyValue>) -> Option<String> {
    match v?.value? {
        Value::StringValue(s) => Some(s),
        other => scalar_text(&other),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        Value::ArrayValue(a) => a
            .values
            .iter()
            .filter_map(|v| text(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        _ => return None,
    })
}

fn service_of(resource: Option<&Resource>, key: &str) -> String {
    resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == key)
        .and_then(|kv| text(kv.value.as_ref()))
        .unwrap_or_else(|| "unknown".into())
}

/// The shown attributes and how many were not shown.
fn shown(attributes: Vec<KeyValue>) -> (Vec<(String, String)>, u32) {
    let mut kept = Vec::with_capacity(attributes.len().min(SHOWN.len()));
    let mut hidden = 0u32;
    for kv in attributes {
        match SHOWN
            .contains(&kv.key.as_str())
            .then(|| owned_text(kv.value))
            .flatten()
        {
            Some(v) => {
                let v = shown_value(&kv.key, v);
                kept.push((kv.key, v));
            }
            None => hidden = hidden.saturating_add(1),
        }
    }
    (kept, hidden)
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id: [u8; 16] = bytes.try_into().ok()?;
    id.iter().any(|b| *b != 0).then_some(TraceId(id))
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id: [u8; 8] = bytes.try_into().ok()?;
    id.iter().any(|b| *b != 0).then_some(SpanId(id))
}

/// The spans of a decoded request, their attributes cut to [`SHOWN`].
pub(crate) fn spans(request: ExportTraceServiceRequest) -> Decoded<Span> {
    let mut out = Decoded::default();
    for rs in request.resource_spans {
        let service = service_of(rs.resource.as_ref(), "service.name");
        for ss in rs.scope_spans {
            for span in ss.spans {
                let (Some(trace), Some(id)) = (trace_id(&span.trace_id), span_id(&span.span_id))
                else {
                    out.rejected += 1;
                    out.why.get_or_insert_with(|| {
                        format!(
                            "span {:?}: a trace id is 16 bytes and a span id 8, not all zero (got {} and {})",
                            span.name,
                            span.trace_id.len(),
                            span.span_id.len()
                        )
                    });
                    continue;
                };
                let parent = if span.parent_span_id.is_empty() {
                    None
                } else {
                    span_id(&span.parent_span_id)
                };
                let (attributes, hidden) = shown(span.attributes);
                let http_status = ["http.response.status_code", "http.status_code"]
                    .iter()
                    .find_map(|k| attributes.iter().find(|(key, _)| key == k))
                    .and_then(|(_, v)| v.parse::<u16>().ok());
                let failed = span
                    .status
                    .as_ref()
                    .is_some_and(|s| s.code == StatusCode::Error as i32);
                let end = span.end_time_unix_nano.max(span.start_time_unix_nano);
                out.items.push(Span {
                    trace_id: trace,
                    span_id: id,
                    parent_id: parent,
                    service: service.clone(),
                    name: span.name,
                    kind: Kind::from_otlp(span.kind),
                    start_ns: span.start_time_unix_nano,
                    end_ns: end,
                    error: failed || http_status.is_some_and(|s| s >= 500),
                    http_status,
                    attributes,
                    hidden,
                });
            }
        }
    }
    out
}

/// The access-log lines of a decoded request: those of `up`'s Envoys (log name
/// [`ACCESS_LOG_NAME`]) tied to a trace. Other records are dropped and counted as rejected:
/// they can be shown beside no span, and their text is nobody's known format.
pub(crate) fn log_lines(request: ExportLogsServiceRequest) -> Decoded<LogLine> {
    let mut out = Decoded::default();
    for rl in request.resource_logs {
        // Envoy's access logger names the proxy by its node cluster (`cluster_name`).
        let resource = rl.resource.as_ref();
        let ours = service_of(resource, "log_name") == ACCESS_LOG_NAME;
        let service = service_of(resource, "cluster_name");
        for sl in rl.scope_logs {
            if !ours {
                out.rejected += sl.log_records.len() as u64;
                out.why.get_or_insert_with(|| {
                    format!(
                        "log records without the log name {ACCESS_LOG_NAME:?} of kyc-mesh's Envoys"
                    )
                });
                continue;
            }
            for record in sl.log_records {
                let Some(trace) = trace_id(&record.trace_id) else {
                    out.rejected += 1;
                    out.why
                        .get_or_insert_with(|| "a log record without a trace id".into());
                    continue;
                };
                let Some(mut body) = owned_text(record.body) else {
                    out.rejected += 1;
                    out.why
                        .get_or_insert_with(|| "a log record without a text body".into());
                    continue;
                };
                let upstream = record
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "upstream_cluster")
                    .and_then(|kv| text(kv.value.as_ref()))
                    .filter(|c| !c.is_empty() && c != "-");
                let at = if record.time_unix_nano > 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                };
                out.items.push(LogLine {
                    trace_id: trace,
                    span_id: span_id(&record.span_id),
                    service: service.clone(),
                    upstream_cluster: upstream,
                    at_ns: at,
                    text: {
                        body.truncate(body.trim_end().len());
                        body
                    },
                });
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
