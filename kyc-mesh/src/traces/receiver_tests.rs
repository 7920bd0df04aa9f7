//! The receiver over real loopback HTTP and gRPC: good payloads kept, bad ones refused with a
//! status naming why and counted, bodies bounded, cross-origin requests refused.

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use prost::bytes::{Buf, Bytes};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::*;

fn request(n: usize) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| ProtoSpan {
            trace_id: vec![7; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: "GET /x".into(),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            ..ProtoSpan::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

async fn receiver(max_body: usize) -> Running {
    start(Config {
        http_port: 0,
        grpc_port: 0,
        max_body,
        ..Config::default()
    })
    .await
    .expect("starts on free ports")
}

async fn post(
    port: u16,
    ctype: &str,
    extra: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let mut rb = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/traces"))
        .header("content-type", ctype)
        .body(body);
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.expect("post");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, r.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn otlp_http_keeps_protobuf_json_and_gzip_and_refuses_the_rest_with_a_count() {
    let r = receiver(64 << 10).await;
    let port = r.http_port;
    let (status, ctype, body) = post(
        port,
        "application/x-protobuf",
        &[],
        request(2).encode_to_vec(),
    )
    .await;
    assert_eq!((status, ctype.as_str()), (200, "application/x-protobuf"));
    ExportTraceServiceResponse::decode(&body[..]).expect("an OTLP answer");
    let json = serde_json::to_vec(&request(1)).expect("OTLP/JSON");
    let (status, ctype, _) = post(port, "application/json; charset=utf-8", &[], json).await;
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&request(3).encode_to_vec()).expect("gzip");
    let (status, _, _) = post(
        port,
        "application/x-protobuf",
        &[("content-encoding", "gzip")],
        gz.finish().expect("gzip"),
    )
    .await;
    assert_eq!(status, 200);
    let s = r.store.status();
    assert_eq!((s.traces, s.spans_received), (1, 6));

    let (status, _, body) = post(
        port,
        "application/x-protobuf",
        &[],
        b"\xff\xfe garbage".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let why = String::from_utf8_lossy(&body).to_string();
    assert!(
        why.contains("not an OTLP protobuf ExportTraceServiceRequest"),
        "{why}"
    );
    let (status, _, body) = post(
        port,
        "application/json",
        &[],
        b"{\"resourceSpans\": 1}".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let answer: serde_json::Value =
        serde_json::from_slice(&body).expect("a JSON google.rpc.Status");
    assert_eq!(answer["code"], 3);
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("resourceSpans")),
        "{answer}"
    );
    let (status, _, _) = post(port, "text/plain", &[], b"hello".to_vec()).await;
    assert_eq!(status, 415);
    let (status, _, _) = post(
        port,
        "application/json",
        &[("origin", "http://evil.example")],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = post(port, "application/x-protobuf", &[], vec![0; 65 << 10]).await;
    assert_eq!(status, 413);
    // A gzip bomb: small on the wire, above the limit once inflated.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![0u8; 1 << 20]).expect("gzip");
    let (status, _, _) = post(
        port,
        "application/x-protobuf",
        &[("content-encoding", "gzip")],
        bomb.finish().expect("gzip"),
    )
    .await;
    assert_eq!(status, 413);
    let s = r.store.status();
    assert_eq!((s.payloads_rejected, s.payloads_too_large), (4, 2), "{s:?}");
    assert_eq!(s.spans_received, 6, "nothing kept from the refused ones");
}

/// A client's view of the gRPC method: raw bytes out, an answer's bytes in.
#[derive(Default, Clone)]
struct RawCodec;
struct RawEnc;
struct RawDec;
impl Encoder for RawEnc {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        dst.put(item);
        Ok(())
    }
}
impl Decoder for RawDec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEnc;
    type Decoder = RawDec;
    fn encoder(&mut self) -> RawEnc {
        RawEnc
    }
    fn decoder(&mut self) -> RawDec {
        RawDec
    }
}

async fn grpc_export(port: u16, path: &str, body: Vec<u8>) -> Result<Bytes, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("ready");
    let path = axum::http::uri::PathAndQuery::try_from(path).expect("path");
    client
        .unary(tonic::Request::new(Bytes::from(body)), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn otlp_grpc_keeps_spans_and_answers_invalid_argument_to_garbage() {
    let r = receiver(64 << 10).await;
    let port = r.grpc_port;
    let answer = grpc_export(port, grpc::TRACES_PATH, request(4).encode_to_vec())
        .await
        .expect("exported");
    ExportTraceServiceResponse::decode(answer).expect("an OTLP answer");
    assert_eq!(r.store.status().spans_received, 4);
    let bad = grpc_export(port, grpc::TRACES_PATH, b"\xff\xfe garbage".to_vec())
        .await
        .expect_err("refused");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    assert!(
        bad.message().contains("ExportTraceServiceRequest"),
        "{bad:?}"
    );
    let big = grpc_export(port, grpc::TRACES_PATH, vec![0; 65 << 10])
        .await
        .expect_err("too large");
    assert_eq!(big.code(), tonic::Code::OutOfRange, "{big:?}");
    let other = grpc_export(port, "/some.Service/Method", Vec::new())
        .await
        .expect_err("unknown");
    assert_eq!(other.code(), tonic::Code::Unimplemented);
    let s = r.store.status();
    assert_eq!((s.payloads_rejected, s.payloads_too_large), (1, 1), "{s:?}");
}

#[tokio::test]
async fn a_taken_port_is_an_error_naming_it() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let e = start(Config {
        http_port: port,
        grpc_port: 0,
        ..Config::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(
        e.to_string()
            .contains(&format!("127.0.0.1:{port} (OTLP/HTTP)")),
        "{e}"
    );
}
