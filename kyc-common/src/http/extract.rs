//! Extractors whose rejections are [`ApiError`]s (axum's `examples/error-handling`): the JSON body
//! (415, 400, 422, 413; see `From<JsonRejection> for ApiError`) and the query string (400).

use axum::extract::{FromRequest, FromRequestParts, Query};
use axum::Json;

use crate::error::ApiError;

/// A JSON body; every rejection is the service's JSON error.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A query string; a rejection is the service's JSON 400.
#[derive(FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
