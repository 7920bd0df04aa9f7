//! The error body of the original services, `{errorCode, errorMessage, type}`, with one code per status.
//!
//! Codes are `<prefix>-10<status>` (`KYC-10422`, `KYC-CRD-CHK-10502`), except the original's catch-all
//! `<prefix>-10001` for an internal failure.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who raises an error: the prefix of its codes and its `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorNamespace {
    pub code_prefix: &'static str,
    pub error_type: &'static str,
}

/// The aggregator's errors: `KYC-…`, type `KYC`.
pub const AGGREGATOR_ERRORS: ErrorNamespace = ErrorNamespace {
    code_prefix: "KYC",
    error_type: "KYC",
};

/// The scorers' errors: `KYC-CRD-CHK-…`, type `KYC_CREDIT_CHECK`.
pub const CREDIT_CHECK_ERRORS: ErrorNamespace = ErrorNamespace {
    code_prefix: "KYC-CRD-CHK",
    error_type: "KYC_CREDIT_CHECK",
};

/// The JSON body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "errorCode": "KYC-10422",
    "errorMessage": "passportNumber: must be 5 to 20 letters or digits",
    "type": "KYC"
}))]
pub struct ErrorBody {
    /// `<prefix>-10<http status>`, or `<prefix>-10001` for an internal failure.
    pub error_code: String,
    /// What went wrong, naming the field for validation errors. Never echoes personal data.
    pub error_message: String,
    /// `KYC` (aggregator) or `KYC_CREDIT_CHECK` (scorers).
    #[serde(rename = "type")]
    pub error_type: String,
}

/// The kinds of failure a service reports, each with its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    Internal,
    BadGateway,
    Unavailable,
    GatewayTimeout,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

impl ErrorNamespace {
    /// The code for a status: `KYC-10404`; internal errors keep the original's `KYC-10001`.
    pub fn code(&self, status: StatusCode) -> String {
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            format!("{}-10001", self.code_prefix)
        } else {
            format!("{}-10{}", self.code_prefix, status.as_u16())
        }
    }

    pub fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ApiError {
        let status = kind.status();
        ApiError {
            status,
            body: ErrorBody {
                error_code: self.code(status),
                error_message: message.into(),
                error_type: self.error_type.to_owned(),
            },
        }
    }
}

/// An error answer: a status and the original's error body.
///
/// Messages are written by this code base and never contain applicant data, but 4xx messages can quote
/// what a client sent (a JSON parser's complaint), so only 5xx messages are logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    /// An error answered by someone else (a scorer's 4xx) that is passed on as it is.
    pub fn passthrough(status: StatusCode, body: ErrorBody) -> Self {
        ApiError { status, body }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body.error_code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(
                status = self.status.as_u16(),
                error_code = %self.body.error_code,
                error_message = %self.body.error_message,
                "request failed"
            );
        }
        (self.status, Json(self.body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_status_and_keep_the_originals_catch_all() {
        assert_eq!(AGGREGATOR_ERRORS.code(StatusCode::BAD_GATEWAY), "KYC-10502");
        assert_eq!(
            AGGREGATOR_ERRORS.code(StatusCode::INTERNAL_SERVER_ERROR),
            "KYC-10001"
        );
        assert_eq!(
            CREDIT_CHECK_ERRORS.code(StatusCode::UNPROCESSABLE_ENTITY),
            "KYC-CRD-CHK-10422"
        );
    }

    #[test]
    fn body_uses_the_original_field_names() {
        let err = CREDIT_CHECK_ERRORS.error(ErrorKind::NotFound, "no route");
        let json = serde_json::to_value(&err.body).expect("serialisable");
        assert_eq!(
            json,
            serde_json::json!({"errorCode": "KYC-CRD-CHK-10404", "errorMessage": "no route", "type": "KYC_CREDIT_CHECK"})
        );
        assert_eq!(err.status, StatusCode::NOT_FOUND);
    }
}
