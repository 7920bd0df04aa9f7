//! Errors as the API answers them: the original's body `{errorCode, errorMessage, type}`, one code per
//! status.
//!
//! Codes are `<prefix>-10<status>` (`KYC-10422`, `KYC-CRD-CHK-10502`), except the original's catch-all
//! `<prefix>-10001` for an internal failure.
//!
//! Handlers, extractors and middleware return an [`ApiError`]; the domain's own errors
//! ([`ValidationError`], [`UnknownDemo`], and each service's, such as the aggregator's gateway errors)
//! convert into it with `From`, so `?` is all a handler writes. An `ApiError` answers with its status and
//! carries itself as a response extension: [`crate::http::errors`] writes the body with the service's
//! [`ErrorNamespace`] (once per service, not per call site), and the request log logs it.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{UnknownDemo, ValidationError};
use crate::http::BODY_LIMIT_BYTES;

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
    Forbidden,
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
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
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

/// An error answer.
///
/// Messages are written by this code base and never contain applicant data, but 4xx messages can quote
/// what a client sent (a JSON parser's complaint), so only 5xx messages are logged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Raised by this service: the body gets the service's code and type.
    #[error("{}: {message}", kind.status())]
    Own { kind: ErrorKind, message: String },
    /// Answered by another service (a scorer's 4xx) and passed on as it is.
    #[error("{status} {}", body.error_code)]
    Relayed { status: StatusCode, body: ErrorBody },
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError::Own {
            kind,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Own { kind, .. } => kind.status(),
            ApiError::Relayed { status, .. } => *status,
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

    /// The body an error answers with in this namespace (a relayed body stays as it was).
    pub fn body(&self, error: &ApiError) -> ErrorBody {
        match error {
            ApiError::Own { kind, message } => ErrorBody {
                error_code: self.code(kind.status()),
                error_message: message.clone(),
                error_type: self.error_type.to_owned(),
            },
            ApiError::Relayed { body, .. } => body.clone(),
        }
    }
}

/// The status, with the error as an extension: the body is written by [`crate::http::errors`].
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::new(ErrorKind::Unprocessable, e.to_string())
    }
}

impl From<UnknownDemo> for ApiError {
    fn from(e: UnknownDemo) -> Self {
        ApiError::new(ErrorKind::BadRequest, e.to_string())
    }
}

/// 415 without a JSON content type, 400 for malformed JSON, 422 for a wrong type, 413 over
/// [`BODY_LIMIT_BYTES`].
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "expected a request with Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::new(ErrorKind::BadRequest, e.body_text())
            }
            JsonRejection::JsonDataError(e) => {
                ApiError::new(ErrorKind::Unprocessable, e.body_text())
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "request body is larger than {} KiB",
                    BODY_LIMIT_BYTES / 1024
                ),
            ),
            other => ApiError::new(ErrorKind::BadRequest, other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(ErrorKind::BadRequest, rejection.body_text())
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
        let err = ApiError::new(ErrorKind::NotFound, "no route");
        let json = serde_json::to_value(CREDIT_CHECK_ERRORS.body(&err)).expect("serialisable");
        assert_eq!(
            json,
            serde_json::json!({"errorCode": "KYC-CRD-CHK-10404", "errorMessage": "no route", "type": "KYC_CREDIT_CHECK"})
        );
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_relayed_body_keeps_its_code_and_domain_errors_convert() {
        let body = CREDIT_CHECK_ERRORS.body(&ApiError::new(ErrorKind::Unprocessable, "x"));
        let relayed = ApiError::Relayed {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: body.clone(),
        };
        assert_eq!(AGGREGATOR_ERRORS.body(&relayed), body);
        let unknown: ApiError = UnknownDemo.into();
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    }
}
