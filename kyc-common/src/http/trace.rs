//! The server span of a request, when traces are on ([`crate::otel`]): named `METHOD route`, kind
//! server, continuing the caller's `traceparent` (or B3). Its attributes are the method, the matched
//! route template and the status: never the raw path, the query, a header or the body (personal data
//! stays out of traces). Probes and `/metrics` get no span.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::metrics::{counted, method_label, UNMATCHED_ROUTE};
use crate::otel;

pub async fn trace(req: Request, next: Next) -> Response {
    if !otel::enabled() {
        return next.run(req).await;
    }
    let route = match req.extensions().get::<MatchedPath>() {
        Some(path) if !counted(path.as_str()) => return next.run(req).await,
        Some(path) => path.as_str().to_owned(),
        None => UNMATCHED_ROUTE.to_owned(),
    };
    let method = method_label(req.method());
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
    );
    let _ = span.set_parent(otel::propagate::extract(req.headers()));
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}
