//! OTLP/HTTP on 127.0.0.1:4318: `POST /v1/traces` and `POST /v1/logs`, protobuf
//! (`application/x-protobuf`) or OTLP/JSON (`application/json`), optionally gzip. As the OTLP
//! specification says: 200 with an `Export…ServiceResponse` (its partial success counting the
//! spans refused), 400 with a `google.rpc.Status` naming what is wrong, in the request's own
//! encoding; 413 above the size limit (after decompression too), 415 for another type or
//! encoding. A request with an `Origin` header (a web page: OTLP exporters send none) is 403.

use std::io::Read;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, Limited};
use prost::Message;

use super::decode::{DecodeError, Encoding};
use super::Receiver;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC's code for a bad argument, as OTLP/HTTP's error body carries it.
const INVALID_ARGUMENT: i32 = 3;

pub(super) fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "kyc-mesh's OTLP receiver: POST /v1/traces or /v1/logs\n",
            )
        })
        .with_state(receiver)
}

/// Why a request is not read: its answer.
struct Refused(StatusCode, Encoding, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let Refused(status, encoding, message) = self;
        let body = RpcStatus {
            code: INVALID_ARGUMENT,
            message,
        };
        answer(status, encoding, body)
    }
}

fn answer<M: Message + serde::Serialize>(status: StatusCode, encoding: Encoding, m: M) -> Response {
    match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, PROTOBUF)],
            m.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => {
            let body = serde_json::to_vec(&m).unwrap_or_default();
            (status, [(header::CONTENT_TYPE, JSON)], body).into_response()
        }
    }
}

/// The body's encoding from `Content-Type`.
fn encoding(headers: &HeaderMap) -> Result<Encoding, Refused> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        PROTOBUF => Ok(Encoding::Protobuf),
        JSON => Ok(Encoding::Json),
        _ => Err(Refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            format!("Content-Type {ctype:?}: OTLP/HTTP is {PROTOBUF} or {JSON}"),
        )),
    }
}

/// The request's body, decompressed, at most `max` bytes.
async fn body(receiver: &Receiver, request: Request, encoding: Encoding) -> Result<Bytes, Refused> {
    let max = receiver.max_body;
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        receiver.rejected();
        return Err(Refused(
            StatusCode::FORBIDDEN,
            encoding,
            format!(
                "cross-origin request (Origin {origin:?}) refused: OTLP exporters send no Origin"
            ),
        ));
    }
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "identity") => false,
        Some("gzip") => true,
        Some(other) => {
            receiver.rejected();
            return Err(Refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                encoding,
                format!("Content-Encoding {other:?}: only gzip (or none) is read"),
            ));
        }
    };
    let too_large = |receiver: &Receiver| {
        receiver.too_large();
        Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            format!("the body is larger than {max} bytes (see --otlp-max-body-kb)"),
        )
    };
    let raw = match Limited::new(request.into_body(), max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(too_large(receiver))
        }
        Err(e) => {
            receiver.rejected();
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                encoding,
                format!("reading the body: {e}"),
            ));
        }
    };
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    match flate2::read::GzDecoder::new(&raw[..])
        .take(limit)
        .read_to_end(&mut out)
    {
        Ok(n) if n > max => Err(too_large(receiver)),
        Ok(_) => Ok(out.into()),
        Err(e) => {
            receiver.rejected();
            Err(Refused(
                StatusCode::BAD_REQUEST,
                encoding,
                format!("not gzip: {e}"),
            ))
        }
    }
}

async fn traces(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    export(&receiver, request, Receiver::traces).await
}

async fn logs(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    export(&receiver, request, Receiver::logs).await
}

/// One export: the body read as its `Content-Type` and `Content-Encoding` say, then kept by
/// `keep` (`Receiver::traces` or `Receiver::logs`), answered in the request's own encoding.
async fn export<M: Message + serde::Serialize>(
    receiver: &Receiver,
    request: Request,
    keep: fn(&Receiver, &[u8], Encoding) -> Result<M, DecodeError>,
) -> Response {
    let encoding = match encoding(request.headers()) {
        Ok(e) => e,
        Err(r) => {
            receiver.rejected();
            return r.into_response();
        }
    };
    let bytes = match body(receiver, request, encoding).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    match keep(receiver, &bytes, encoding) {
        Ok(answered) => answer(StatusCode::OK, encoding, answered),
        Err(e) => Refused(StatusCode::BAD_REQUEST, encoding, e.to_string()).into_response(),
    }
}
