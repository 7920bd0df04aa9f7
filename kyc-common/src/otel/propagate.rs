//! Trace context across a hop: the parent a server span continues (W3C `traceparent`, else B3), and
//! the headers a client span sends on (both `traceparent` and B3, replacing what was received, so the
//! next proxy sees this service's span as its parent whichever format it reads).

use axum::http::HeaderMap;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;

use super::{b3, w3c};

/// The caller's context: `traceparent` when valid, else B3, else none (a new trace).
pub fn extract(headers: &HeaderMap) -> Context {
    match w3c::extract(headers).or_else(|| b3::extract(headers)) {
        Some(cx) => Context::new().with_remote_span_context(cx),
        None => Context::new(),
    }
}

/// Writes `cx` (the client span's context) as `traceparent`/`tracestate` and B3 headers; nothing
/// when it holds no valid span.
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    let span = cx.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        w3c::inject(span_context, headers);
        b3::inject(span_context, headers);
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn w3c_wins_over_b3_and_b3_is_the_fallback() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        h.insert(
            "x-b3-traceid",
            HeaderValue::from_static("463ac35c9f6413ad48485a3953bb6124"),
        );
        h.insert("x-b3-spanid", HeaderValue::from_static("a2fb4a1d1a96d312"));
        let cx = extract(&h);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        h.remove("traceparent");
        let cx = extract(&h);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "463ac35c9f6413ad48485a3953bb6124"
        );
        let mut out = HeaderMap::new();
        inject(&cx, &mut out);
        assert_eq!(
            out["traceparent"],
            "00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01"
        );
        assert_eq!(out["x-b3-traceid"], "463ac35c9f6413ad48485a3953bb6124");
    }

    #[test]
    fn nothing_is_injected_without_a_span() {
        let mut headers = HeaderMap::new();
        inject(&Context::new(), &mut headers);
        assert!(headers.is_empty());
    }
}
