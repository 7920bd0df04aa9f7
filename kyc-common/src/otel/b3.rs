//! Zipkin's B3 propagation (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, or the single `b3` header),
//! what Istio's sidecars send when the mesh traces with Zipkin.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

const TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
const SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
const SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");

/// The B3 headers, all removed before writing (typed names: no parsing per request).
pub const HEADERS: [HeaderName; 6] = [
    TRACE_ID,
    SPAN_ID,
    HeaderName::from_static("x-b3-parentspanid"),
    SAMPLED,
    HeaderName::from_static("x-b3-flags"),
    HeaderName::from_static("b3"),
];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A 64- or 128-bit hex trace id (64-bit ids are left-padded, as Zipkin does).
fn trace_id(hex: &str) -> Option<TraceId> {
    if hex.len() != 16 && hex.len() != 32 {
        return None;
    }
    let id = TraceId::from_hex(hex).ok()?;
    (id != TraceId::INVALID).then_some(id)
}

fn span_id(hex: &str) -> Option<SpanId> {
    let id = (hex.len() == 16)
        .then(|| SpanId::from_hex(hex).ok())
        .flatten()?;
    (id != SpanId::INVALID).then_some(id)
}

fn context(trace: &str, span: &str, sampled: Option<&str>) -> Option<SpanContext> {
    let flags = match sampled {
        Some("1" | "true" | "d") | None => TraceFlags::SAMPLED,
        _ => TraceFlags::default(),
    };
    Some(SpanContext::new(
        trace_id(trace)?,
        span_id(span)?,
        flags,
        true,
        TraceState::default(),
    ))
}

/// The remote span context the B3 headers carry, if valid.
pub fn extract(headers: &HeaderMap) -> Option<SpanContext> {
    if let Some(single) = header(headers, "b3") {
        let mut parts = single.split('-');
        let (trace, span) = (parts.next()?, parts.next()?);
        return context(trace, span, parts.next());
    }
    context(
        header(headers, "x-b3-traceid")?,
        header(headers, "x-b3-spanid")?,
        header(headers, "x-b3-sampled").or(header(headers, "x-b3-flags").map(|_| "d")),
    )
}

/// Replaces any B3 headers with the multi-header form of `cx`.
pub fn inject(cx: &SpanContext, headers: &mut HeaderMap) {
    for name in &HEADERS {
        headers.remove(name);
    }
    let mut trace = [0u8; 32];
    super::w3c::hex_into(&cx.trace_id().to_bytes(), &mut trace);
    let mut span = [0u8; 16];
    super::w3c::hex_into(&cx.span_id().to_bytes(), &mut span);
    for (name, value) in [(TRACE_ID, &trace[..]), (SPAN_ID, &span[..])] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    }
    let sampled = if cx.is_sampled() { "1" } else { "0" };
    headers.insert(SAMPLED, HeaderValue::from_static(sampled));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_and_single_headers_round_trip() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-b3-traceid",
            HeaderValue::from_static("463ac35c9f6413ad48485a3953bb6124"),
        );
        h.insert("x-b3-spanid", HeaderValue::from_static("a2fb4a1d1a96d312"));
        h.insert("x-b3-sampled", HeaderValue::from_static("1"));
        let cx = extract(&h).expect("valid B3");
        assert_eq!(
            cx.trace_id().to_string(),
            "463ac35c9f6413ad48485a3953bb6124"
        );
        assert!(cx.is_sampled() && cx.is_remote());
        let mut single = HeaderMap::new();
        single.insert(
            "b3",
            HeaderValue::from_static("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"),
        );
        let cx = extract(&single).expect("valid single header");
        assert!(!cx.is_sampled());
        let mut out = HeaderMap::new();
        out.insert("b3", HeaderValue::from_static("stale"));
        inject(&cx, &mut out);
        assert!(!out.contains_key("b3"));
        assert_eq!(out["x-b3-spanid"], "e457b5a2e4d86bd1");
        assert_eq!(out["x-b3-sampled"], "0");
    }

    #[test]
    fn garbage_is_no_context() {
        let mut h = HeaderMap::new();
        h.insert("x-b3-traceid", HeaderValue::from_static("not-hex"));
        h.insert("x-b3-spanid", HeaderValue::from_static("a2fb4a1d1a96d312"));
        assert!(extract(&h).is_none());
    }
}
