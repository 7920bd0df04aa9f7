//! W3C Trace Context's `traceparent` (`00-{trace id}-{span id}-{flags}`), read and written on the
//! stack: the SDK's `TraceContextPropagator` splits the value into a `Vec` and formats ids with
//! `format!`, which was a measurable part of a span's cost (BENCHMARKS.md, "The cost of
//! observability"). `tracestate` is still parsed and written by the SDK's `TraceState`.

use std::str::FromStr;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes` into `out` (twice as long).
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
}

/// Lower-case hex only (the specification refuses upper case).
fn unhex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The remote span context of a `traceparent` value, per the specification: version `00` is exactly
/// 55 characters; a later version (not `ff`) may append `-…`; ids are lower-case hex, not all zero.
/// Only the sampled flag is kept.
pub fn parse(value: &[u8], tracestate: Option<&str>) -> Option<SpanContext> {
    let value = value.trim_ascii();
    if value.len() < 55 || [2, 35, 52].iter().any(|&i| value[i] != b'-') {
        return None;
    }
    let [version] = unhex::<1>(&value[..2])?;
    if version == 0xff
        || (version == 0 && value.len() != 55)
        || (value.len() > 55 && value[55] != b'-')
    {
        return None;
    }
    let trace_id = TraceId::from_bytes(unhex(&value[3..35])?);
    let span_id = SpanId::from_bytes(unhex(&value[36..52])?);
    let [flags] = unhex::<1>(&value[53..55])?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let state = tracestate
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        state,
    ))
}

/// The caller's context from `traceparent` (and `tracestate`), if valid.
pub fn extract(headers: &HeaderMap) -> Option<SpanContext> {
    let value = headers.get(TRACEPARENT)?;
    let state = headers.get(TRACESTATE).and_then(|v| v.to_str().ok());
    parse(value.as_bytes(), state)
}

/// Writes `cx` as `traceparent`, and `tracestate` when it has entries (replacing both).
pub fn inject(cx: &SpanContext, headers: &mut HeaderMap) {
    headers.remove(TRACESTATE);
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
    hex_into(&cx.trace_id().to_bytes(), &mut out[3..35]);
    hex_into(&cx.span_id().to_bytes(), &mut out[36..52]);
    if cx.is_sampled() {
        out[54] = b'1';
    }
    if let Ok(value) = HeaderValue::from_bytes(&out) {
        headers.insert(TRACEPARENT, value);
    }
    let state = cx.trace_state().header();
    if !state.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&state) {
            headers.insert(TRACESTATE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry::Context;
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    /// What the SDK's propagator makes of the same headers.
    fn sdk(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
        let mut carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        if let Some(s) = tracestate {
            carrier.insert("tracestate".to_owned(), s.to_owned());
        }
        let cx = TraceContextPropagator::new().extract(&carrier);
        let sc = cx.span().span_context().clone();
        sc.is_valid().then_some(sc)
    }

    #[test]
    fn valid_values_read_as_the_sdk_reads_them() {
        for (value, state) in [
            (VALID, None),
            (VALID, Some("vendor=abc,other=1")),
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
                None,
            ),
            // Unknown flags are dropped, only "sampled" is kept.
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
                None,
            ),
            // A later version may carry more fields.
            (
                "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                None,
            ),
            (
                " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ",
                None,
            ),
        ] {
            let ours = parse(value.as_bytes(), state).expect(value);
            assert_eq!(Some(ours), sdk(value, state), "{value}");
        }
    }

    #[test]
    fn invalid_values_are_no_context() {
        for value in [
            "",
            "garbage",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
        ] {
            assert_eq!(parse(value.as_bytes(), None), None, "{value}");
        }
    }

    #[test]
    fn inject_writes_what_the_sdk_propagator_writes() {
        for (flags, state) in [
            (TraceFlags::SAMPLED, "vendor=abc,other=1"),
            (TraceFlags::default(), ""),
        ] {
            let sc = SpanContext::new(
                TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex"),
                SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
                flags,
                true,
                TraceState::from_str(state).expect("a trace state"),
            );
            let mut ours = HeaderMap::new();
            ours.insert("tracestate", HeaderValue::from_static("stale=1"));
            inject(&sc, &mut ours);
            let mut theirs = HashMap::new();
            TraceContextPropagator::new()
                .inject_context(&Context::new().with_remote_span_context(sc), &mut theirs);
            assert_eq!(ours["traceparent"], theirs["traceparent"].as_str());
            // The SDK writes an empty `tracestate`; an empty one is not sent here.
            let state = ours.get("tracestate").and_then(|v| v.to_str().ok());
            assert_eq!(state.unwrap_or(""), theirs["tracestate"]);
        }
    }
}
