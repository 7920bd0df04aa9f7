use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan, Status};
use prost::Message;

use super::*;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..KeyValue::default()
    }
}

fn resource(pairs: &[(&str, &str)]) -> Option<Resource> {
    Some(Resource {
        attributes: pairs.iter().map(|(k, v)| kv(k, v)).collect(),
        ..Resource::default()
    })
}

fn proto_span(trace: Vec<u8>, id: Vec<u8>, attrs: Vec<KeyValue>) -> ProtoSpan {
    ProtoSpan {
        trace_id: trace,
        span_id: id,
        name: "POST /credit-check/report".into(),
        kind: 2,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 5_000,
        attributes: attrs,
        ..ProtoSpan::default()
    }
}

fn request(spans: Vec<ProtoSpan>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(&[("service.name", "kyc-credit-check-basic")]),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

#[test]
fn protobuf_spans_keep_only_the_shown_attributes_and_no_query_string() {
    let attrs = vec![
        kv("http.request.method", "POST"),
        kv(
            "http.url",
            "http://h:8000/kyc/v1/customer?type=report&firstName=Zebulon",
        ),
        kv("http.status_code", "503"),
        kv("user_agent", "curl/8"),
        kv("applicant.firstName", "Zebulon"),
    ];
    let body = request(vec![proto_span(vec![7; 16], vec![9; 8], attrs)]).encode_to_vec();
    let decoded = spans(trace_request(&body, Encoding::Protobuf).expect("decodes"));
    assert_eq!(decoded.rejected, 0);
    let [s] = decoded.items.as_slice() else {
        panic!("one span: {decoded:?}")
    };
    assert_eq!(s.service, "kyc-credit-check-basic");
    assert_eq!(s.kind, Kind::Server);
    assert_eq!(s.http_status, Some(503));
    assert!(s.error, "a 5xx is a failed span");
    assert_eq!(s.hidden, 2);
    assert_eq!(
        s.attribute("http.url"),
        Some("http://h:8000/kyc/v1/customer")
    );
    let all = format!("{s:?}");
    assert!(!all.contains("Zebulon") && !all.contains("curl"), "{all}");
}

#[test]
fn malformed_ids_are_refused_one_by_one_and_the_rest_kept() {
    let ok = proto_span(vec![1; 16], vec![2; 8], vec![]);
    let short = proto_span(vec![1; 15], vec![2; 8], vec![]);
    let zero = proto_span(vec![0; 16], vec![2; 8], vec![]);
    let mut failed = proto_span(vec![1; 16], vec![3; 8], vec![]);
    failed.status = Some(Status {
        code: 2,
        message: String::new(),
    });
    let body = request(vec![ok, short, zero, failed]).encode_to_vec();
    let d = spans(trace_request(&body, Encoding::Protobuf).expect("decodes"));
    assert_eq!((d.items.len(), d.rejected), (2, 2));
    assert!(d.why.is_some_and(|w| w.contains("16 bytes")));
    assert!(d.items[1].error, "status ERROR is a failed span");
}

#[test]
fn garbage_is_an_error_naming_the_format() {
    for (body, enc) in [
        (&b"\xff\xff\xff\xff"[..], Encoding::Protobuf),
        (&b"{\"resourceSpans\": 3}"[..], Encoding::Json),
        (&b"not json"[..], Encoding::Json),
        (&b"{} trailing"[..], Encoding::Json),
    ] {
        let e = trace_request(body, enc).expect_err("refused");
        assert!(e.to_string().contains("ExportTraceServiceRequest"), "{e}");
    }
    let e = trace_request(
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
        Encoding::Json,
    )
    .expect_err("bad hex");
    assert!(
        e.to_string()
            .contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
        "{e}"
    );
}

/// The example of the OTLP specification's JSON encoding (opentelemetry-proto
/// examples/trace.json): hex ids, camelCase, `kind` as a number, times as strings.
#[test]
fn otlp_json_as_the_specification_writes_it() {
    let body = br#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
        "scopeSpans": [{
          "scope": {"name": "my.library", "version": "1.0.0",
                    "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
          "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": "EEE19B7EC3C1B173",
            "name": "I'm a server span",
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": 1544712661000000000,
            "kind": 2,
            "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}},
                           {"key": "http.status_code", "value": {"intValue": "200"}}],
            "unknownField": true
          }]
        }]
      }]
    }"#;
    let d = spans(trace_request(body, Encoding::Json).expect("the spec's example decodes"));
    let [s] = d.items.as_slice() else {
        panic!("{d:?}")
    };
    assert_eq!(s.trace_id.to_string(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(s.span_id.to_string(), "eee19b7ec3c1b174");
    assert_eq!(
        s.parent_id.map(|p| p.to_string()).as_deref(),
        Some("eee19b7ec3c1b173")
    );
    assert_eq!(
        (s.start_ns, s.end_ns),
        (1_544_712_660_000_000_000, 1_544_712_661_000_000_000)
    );
    assert_eq!(
        (s.kind, s.http_status, s.hidden),
        (Kind::Server, Some(200), 1)
    );
    assert_eq!(s.service, "my.service");
    // Omitted fields take their defaults.
    let d = spans(trace_request(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#, Encoding::Json).expect("minimal"));
    assert_eq!(d.items.len(), 1);
    assert_eq!(d.items[0].service, "unknown");
}

#[test]
fn access_log_lines_of_our_envoys_are_kept_with_their_trace() {
    let record = |trace: Vec<u8>| LogRecord {
        trace_id: trace,
        span_id: vec![4; 8],
        time_unix_nano: 42,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(
                "[t] \"POST /kyc/v1/customer HTTP/1.1\" 200\n".into(),
            )),
        }),
        attributes: vec![kv(
            "upstream_cluster",
            "outbound|8080||kyc-aggregator-mgt.default.svc.cluster.local",
        )],
        ..LogRecord::default()
    };
    let logs = |name: &str| ResourceLogs {
        resource: resource(&[("log_name", name), ("cluster_name", "istio-ingressgateway")]),
        scope_logs: vec![ScopeLogs {
            log_records: vec![record(vec![5; 16]), record(Vec::new())],
            ..ScopeLogs::default()
        }],
        ..ResourceLogs::default()
    };
    let body = ExportLogsServiceRequest {
        resource_logs: vec![logs(ACCESS_LOG_NAME), logs("someone-else")],
    }
    .encode_to_vec();
    let d = log_lines(logs_request(&body, Encoding::Protobuf).expect("decodes"));
    assert_eq!((d.items.len(), d.rejected), (1, 3));
    let l = &d.items[0];
    assert_eq!(l.service, "istio-ingressgateway");
    assert_eq!(l.span_id, Some(SpanId([4; 8])));
    assert_eq!(l.text, "[t] \"POST /kyc/v1/customer HTTP/1.1\" 200");
    assert!(l
        .upstream_cluster
        .as_deref()
        .is_some_and(|c| c.contains("aggregator")));
}
