//! What can go wrong calling the credit-check service through the gateway, and how each is answered.
//!
//! | what happens | answer |
//! |---|---|
//! | the scorer answers 4xx with the error body | the same status and body (its `KYC-CRD-CHK-…` code) |
//! | the gateway or scorer answers 5xx (or a 4xx without the error body, e.g. no route) | 502 `KYC-10502` |
//! | a 2xx that is not a report | 502 `KYC-10502` |
//! | nothing listens at the gateway address | 502 `KYC-10502`, at once |
//! | no complete answer within `KYC_OUTBOUND_TIMEOUT_MS` | 504 `KYC-10504` |
//! | `KYC_OUTBOUND_MAX_CONCURRENCY` calls already in flight | 503 `KYC-10503`, at once (not queued) |

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use kyc_common::error::{ApiError, ErrorBody, ErrorKind};
use kyc_common::http::responses::error_responses;
use reqwest::Url;
use utoipa::openapi::{RefOr, Response};
use utoipa::IntoResponses;

#[derive(Clone, Debug, thiserror::Error)]
pub enum GatewayError {
    /// A scorer refused the applicant: passed on as it is.
    #[error("{status} {}", body.error_code)]
    Refused { status: StatusCode, body: ErrorBody },
    #[error("{url} answered {status}: {} ({})", body.error_message, body.error_code)]
    Failed {
        url: Url,
        status: StatusCode,
        body: ErrorBody,
    },
    #[error("{url} answered {status}")]
    Unexpected { url: Url, status: StatusCode },
    #[error("{url} answered {status} without a credit-check report")]
    NotAReport { url: Url, status: StatusCode },
    #[error("cannot connect to the credit-check gateway at {base} (KYC_GATEWAY_URL)")]
    Unreachable { base: Url },
    #[error("the call to {url} failed: the connection broke before a complete answer")]
    Broken { url: Url },
    #[error("{url} did not answer within {} ms (KYC_OUTBOUND_TIMEOUT_MS)", timeout.as_millis())]
    Timeout { url: Url, timeout: Duration },
    #[error("all {limit} calls to the credit-check gateway are in use (KYC_OUTBOUND_MAX_CONCURRENCY); retry later")]
    Exhausted { limit: usize },
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Refused { status, body } => ApiError::Relayed { status, body },
            GatewayError::Timeout { .. } => ApiError::new(ErrorKind::GatewayTimeout, e.to_string()),
            GatewayError::Exhausted { .. } => ApiError::new(ErrorKind::Unavailable, e.to_string()),
            _ => ApiError::new(ErrorKind::BadGateway, e.to_string()),
        }
    }
}

/// How the gateway's failures are documented on the routes that call it. The 503 also says what the
/// common 503 of business routes says (listed after it, this description is the one kept).
impl IntoResponses for GatewayError {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            (502, "Gateway unreachable, or it or the scorer failed"),
            (
                503,
                "Over capacity, answered at once (not queued; retry later): \
                 KYC_OUTBOUND_MAX_CONCURRENCY calls to the gateway, or KYC_MAX_CONCURRENT_REQUESTS \
                 requests, already in flight; or an injected failure (KYC_CHAOS_ERROR_RATE)",
            ),
            (504, "No answer within KYC_OUTBOUND_TIMEOUT_MS"),
        ])
    }
}
