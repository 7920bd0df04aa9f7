//! OTLP/gRPC on 127.0.0.1:4317: `TraceService/Export` and `LogsService/Export` (what Envoy's
//! OpenTelemetry access logger sends). tonic frames the messages (size limit, gzip); the bytes
//! are decoded here, with the official types, so a payload that is not OTLP is answered
//! `INVALID_ARGUMENT` naming why and counted, like OTLP/HTTP's 400, instead of tonic's
//! `INTERNAL`. A message above the limit is `OUT_OF_RANGE`, counted as too large.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::bytes::{Buf, Bytes};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, UnaryService};
use tonic::{Code, Status};

use super::decode::Encoding;
use super::Receiver;

pub(super) const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub(super) const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// A message's bytes in, a response message out: decoding is the service's.
struct Raw<M>(std::marker::PhantomData<M>);

impl<M> Default for Raw<M> {
    fn default() -> Self {
        Raw(std::marker::PhantomData)
    }
}

struct RawDecoder;
struct RawEncoder<M>(std::marker::PhantomData<M>);

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl<M: Message> Encoder for RawEncoder<M> {
    type Item = M;
    type Error = Status;
    fn encode(&mut self, item: M, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the answer: {e}")))
    }
}

impl<M: Message + Send + 'static> Codec for Raw<M> {
    type Encode = M;
    type Decode = Bytes;
    type Encoder = RawEncoder<M>;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder(std::marker::PhantomData)
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

struct ExportTraces(Arc<Receiver>);

impl UnaryService<Bytes> for ExportTraces {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Result<tonic::Response<Self::Response>, Status>>;
    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let receiver = self.0.clone();
        Box::pin(async move {
            let body = request.into_inner();
            receiver
                .traces(&body, Encoding::Protobuf)
                .map(tonic::Response::new)
                .map_err(|e| Status::invalid_argument(e.to_string()))
        })
    }
}

struct ExportLogs(Arc<Receiver>);

impl UnaryService<Bytes> for ExportLogs {
    type Response = ExportLogsServiceResponse;
    type Future = BoxFuture<Result<tonic::Response<Self::Response>, Status>>;
    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let receiver = self.0.clone();
        Box::pin(async move {
            let body = request.into_inner();
            receiver
                .logs(&body, Encoding::Protobuf)
                .map(tonic::Response::new)
                .map_err(|e| Status::invalid_argument(e.to_string()))
        })
    }
}

/// Both services behind one tower service, routed by path (served by tonic's server without
/// its router).
#[derive(Clone)]
pub(super) struct Otlp(pub(super) Arc<Receiver>);

fn grpc<M: Message + Send + 'static>(max: usize) -> Grpc<Raw<M>> {
    Grpc::new(Raw::<M>::default())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max)
}

fn answered_code<B>(r: &axum::http::Response<B>) -> Option<Code> {
    r.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32)
}

impl tower::Service<axum::http::Request<tonic::body::Body>> for Otlp {
    type Response = axum::http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<tonic::body::Body>) -> Self::Future {
        let receiver = self.0.clone();
        let max = receiver.max_body;
        Box::pin(async move {
            let response = match req.uri().path() {
                TRACES_PATH => {
                    grpc::<ExportTraceServiceResponse>(max)
                        .unary(ExportTraces(receiver.clone()), req)
                        .await
                }
                LOGS_PATH => {
                    grpc::<ExportLogsServiceResponse>(max)
                        .unary(ExportLogs(receiver.clone()), req)
                        .await
                }
                _ => Status::unimplemented(
                    "kyc-mesh's receiver serves TraceService/Export and LogsService/Export",
                )
                .into_http(),
            };
            match answered_code(&response) {
                Some(Code::OutOfRange | Code::ResourceExhausted) => receiver.too_large(),
                Some(Code::Internal) => receiver.rejected(),
                _ => {}
            }
            Ok(response)
        })
    }
}
