//! One log line per request: method, route, status, latency, request id, who served (and scored) it.
//! Route is the matched pattern, never the raw URI; bodies are never logged. The line is at debug
//! (`KYC_LOG_LEVEL=debug` shows it), as Istio's access log is off by default: at info it cost the
//! chain about an eighth of its throughput (the line formatted and written, and relayed by
//! `kyc-mesh up`; BENCHMARKS.md, issue 20). What a request to the KYC API did stays at info in
//! the aggregator's audit line, and a 5xx error answer is logged at warn, before its request line
//! (4xx messages can quote what a client sent, so they are not).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::context::ServiceContext;
use super::SCORED_BY_HEADER;
use crate::error::ErrorBody;
use crate::propagation::request_id;

pub async fn log_request(
    State(ctx): State<Arc<ServiceContext>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let request_id = request_id(req.headers());
    let response = next.run(req).await;
    let latency_ms = started.elapsed().as_micros() as f64 / 1000.0;
    let status = response.status().as_u16();
    if let Some(error) = response.extensions().get::<ErrorBody>() {
        if response.status().is_server_error() {
            tracing::warn!(
                status,
                error_code = %error.error_code,
                error_message = %error.error_message,
                "request failed"
            );
        }
    }
    let scored_by = response
        .headers()
        .get(SCORED_BY_HEADER)
        .and_then(|v| v.to_str().ok());
    let served_by = &ctx.served_by;
    if let Some(scored_by) = scored_by {
        tracing::debug!(%method, %route, status, latency_ms, %request_id, %served_by, scored_by, "request");
    } else {
        tracing::debug!(%method, %route, status, latency_ms, %request_id, %served_by, "request");
    }
    response
}
