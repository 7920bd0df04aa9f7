//! The server span of a request, when traces are on ([`crate::otel`]): named `METHOD route`, kind
//! server, continuing the caller's `traceparent` (or B3). Its attributes are the method, the matched
//! route template and the status: never the raw path, the query, a header or the body (personal data
//! stays out of traces). Probes and `/metrics` get no span. The span's context is put in the request's
//! extensions as an [`otel::Parent`], which a handler takes to make its outbound calls' client spans.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::metrics::{counted, method_label, UNMATCHED_ROUTE};
use crate::otel;

pub async fn trace(req: Request, next: Next) -> Response {
    if !otel::enabled() {
        return next.run(req).await;
    }
    let traced = match req.extensions().get::<MatchedPath>() {
        Some(path) if !counted(path.as_str()) => return next.run(req).await,
        Some(path) => otel::server_span(method_label(req.method()), path.as_str(), req.headers()),
        None => otel::server_span(method_label(req.method()), UNMATCHED_ROUTE, req.headers()),
    };
    // The span's context goes along in the request (for the handler's client spans), not attached
    // to the task on every poll.
    let mut req = req;
    req.extensions_mut().insert(traced.parent());
    let response = next.run(req).await;
    traced.end(Some(response.status()));
    response
}
