//! Headers a service must copy from its inbound request to its outbound calls so that Istio can join the
//! spans of one request into one trace, and route on user headers further down the chain.
//!
//! The list is the one Istio's Bookinfo `productpage` forwards, plus the `x-kyc-tester` routing header
//! used by `networking/scenarios/` (like Bookinfo's `end-user`, a header-routing rule downstream only sees
//! it if every hop forwards it).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

pub const REQUEST_ID: &str = "x-request-id";

/// A request's `x-request-id` as a log line shows it (`-` when absent or not text).
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

/// Forwarded as received, when present.
pub const PROPAGATED_HEADERS: &[&str] = &[
    // Istio: request id (access logs, trace sampling)
    "x-request-id",
    // W3C Trace Context
    "traceparent",
    "tracestate",
    // Zipkin B3, multi and single header
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    // Lightstep / OpenTracing
    "x-ot-span-context",
    // Datadog
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    // Google Cloud trace, gRPC binary trace context
    "x-cloud-trace-context",
    "grpc-trace-bin",
    // Apache SkyWalking
    "sw8",
    // Headers that routing rules match on (Bookinfo's `end-user`, this project's `x-kyc-tester`)
    "end-user",
    "x-kyc-tester",
    "user-agent",
];

/// The headers to send on an outbound call made while serving a request with `inbound` headers.
/// Always carries an `x-request-id`: the inbound one, or `fresh_request_id` when the caller sent none.
pub fn outbound_headers(
    inbound: &HeaderMap,
    fresh_request_id: impl FnOnce() -> String,
) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in PROPAGATED_HEADERS {
        for value in inbound.get_all(*name) {
            out.append(HeaderName::from_static(name), value.clone());
        }
    }
    if !out.contains_key(REQUEST_ID) {
        if let Ok(value) = HeaderValue::from_str(&fresh_request_id()) {
            out.insert(HeaderName::from_static(REQUEST_ID), value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_tracing_headers_and_drops_others() {
        let mut inbound = HeaderMap::new();
        inbound.insert("x-request-id", HeaderValue::from_static("abc"));
        inbound.insert("x-b3-traceid", HeaderValue::from_static("123"));
        inbound.insert("traceparent", HeaderValue::from_static("00-1-2-01"));
        inbound.insert("cookie", HeaderValue::from_static("secret"));
        inbound.insert("content-length", HeaderValue::from_static("10"));
        let out = outbound_headers(&inbound, || "unused".into());
        assert_eq!(
            out.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"abc"[..])
        );
        assert_eq!(
            out.get("x-b3-traceid").map(|v| v.as_bytes()),
            Some(&b"123"[..])
        );
        assert!(out.contains_key("traceparent"));
        assert!(!out.contains_key("cookie"));
        assert!(!out.contains_key("content-length"));
    }

    #[test]
    fn creates_a_request_id_when_absent() {
        let out = outbound_headers(&HeaderMap::new(), || "fresh-id".into());
        assert_eq!(
            out.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"fresh-id"[..])
        );
    }
}
