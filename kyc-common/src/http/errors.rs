//! Error answers: the body of every [`ApiError`] is written here, once per service, with the service's
//! [`ErrorNamespace`](crate::error::ErrorNamespace); and the JSON 404 and 405.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::context::ServiceContext;
use crate::error::{ApiError, ErrorKind};

/// Middleware: a response carrying an [`ApiError`] gets its JSON body. The body is also left as an
/// extension for the request log.
pub async fn write_error_body(
    State(ctx): State<Arc<ServiceContext>>,
    req: Request,
    next: Next,
) -> Response {
    let response = next.run(req).await;
    let Some(error) = response.extensions().get::<ApiError>() else {
        return response;
    };
    let body = ctx.errors.body(error);
    let (mut parts, _) = response.into_parts();
    parts.extensions.insert(body.clone());
    (parts, Json(body)).into_response()
}

/// Fallback for a path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        "no such route; see /swagger-ui/ for the API",
    )
}

/// Fallback for a method a route does not answer.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        "method not allowed on this route; see /swagger-ui/ for the API",
    )
}
