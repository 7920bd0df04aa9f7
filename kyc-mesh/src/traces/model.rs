//! The receiver's values: a span and an access-log line as the store keeps them, decoded once
//! from the OTLP wire types (`decode`) with only the attributes that may be shown: the method,
//! the route or path without its query string, the status, the upstream cluster, the proxy's
//! flags and addresses. Anything else a sender attaches (headers, a query string, a body) is
//! dropped before it is stored, and counted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::field::FieldError;

/// A trace id: 16 bytes, shown as 32 lowercase hex digits (as W3C `traceparent` and OTLP/JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TraceId(pub(crate) [u8; 16]);

/// A span id: 8 bytes, 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SpanId(pub(crate) [u8; 8]);

fn hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(&self.0, f)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(&self.0, f)
    }
}

impl FromStr for TraceId {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        unhex::<16>(s)
            .filter(|b| b.iter().any(|x| *x != 0))
            .map(TraceId)
            .ok_or_else(|| {
                FieldError::new(
                    "traceId",
                    format!("{s:?} is not a trace id (32 hex digits, not all zero)"),
                )
            })
    }
}

impl FromStr for SpanId {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        unhex::<8>(s)
            .filter(|b| b.iter().any(|x| *x != 0))
            .map(SpanId)
            .ok_or_else(|| {
                FieldError::new(
                    "spanId",
                    format!("{s:?} is not a span id (16 hex digits, not all zero)"),
                )
            })
    }
}

macro_rules! hex_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_serde!(TraceId);
hex_serde!(SpanId);

/// OTLP's span kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    pub(crate) fn from_otlp(kind: i32) -> Kind {
        match kind {
            1 => Kind::Internal,
            2 => Kind::Server,
            3 => Kind::Client,
            4 => Kind::Producer,
            5 => Kind::Consumer,
            _ => Kind::Unspecified,
        }
    }
}

/// One span as stored: ids, who made it (`service.name` of its resource), what it did and
/// the attributes that may be shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Span {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) service: String,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// Unix nanoseconds.
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    /// The span's status is ERROR, or its HTTP status is 5xx.
    pub(crate) error: bool,
    /// The HTTP status it recorded (`http.response.status_code`, Envoy's `http.status_code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) http_status: Option<u16>,
    /// The shown attributes, `key` → value as text, in the order received.
    pub(crate) attributes: Vec<(String, String)>,
    /// Attributes received and not kept (not on the list of [`SHOWN`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) hidden: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Span {
    pub(crate) fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// What the store counts for it: its strings and a fixed part.
    pub(crate) fn weight(&self) -> usize {
        160 + self.service.len()
            + self.name.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| 48 + k.len() + v.len())
                .sum::<usize>()
    }

    /// The upstream cluster an Envoy span went to (`outbound|8080|v1|<fqdn>`).
    pub(crate) fn upstream_cluster(&self) -> Option<&str> {
        self.attribute("upstream_cluster")
            .or_else(|| self.attribute("upstream_cluster.name"))
            .filter(|c| !c.is_empty() && *c != "-")
    }
}

/// One access-log line of an Envoy (its OpenTelemetry access logger): the same text as the
/// `--access-log` line on stdout, tied to the trace and span of its request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogLine {
    pub(crate) trace_id: TraceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) span_id: Option<SpanId>,
    /// The proxy that wrote it (its node cluster: `istio-ingressgateway`, `<workload>.<ns>`).
    pub(crate) service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) upstream_cluster: Option<String>,
    /// Unix nanoseconds.
    pub(crate) at_ns: u64,
    pub(crate) text: String,
}

impl LogLine {
    pub(crate) fn weight(&self) -> usize {
        96 + self.service.len()
            + self.text.len()
            + self.upstream_cluster.as_ref().map_or(0, String::len)
    }
}

/// The attributes the store keeps (OpenTelemetry's HTTP conventions, Envoy's tracer tags and
/// `kyc.hop`, the hop tag `up` gives each Envoy listener). Nothing else: no header, no
/// user agent, no query string (cut from `http.url`/`url.full`), never a body.
pub(crate) const SHOWN: &[&str] = &[
    "http.request.method",
    "http.method",
    "http.route",
    "url.path",
    "http.url",
    "url.full",
    "http.response.status_code",
    "http.status_code",
    "http.protocol",
    "upstream_cluster",
    "upstream_cluster.name",
    "upstream_address",
    "peer.address",
    "response_flags",
    "component",
    "node_id",
    "request_size",
    "response_size",
    "retry.count",
    "error",
    "guid:x-request-id",
    "kyc.hop",
];

/// `value` as it may be kept: a URL without its query string or fragment.
pub(crate) fn shown_value(key: &str, value: String) -> String {
    if matches!(key, "http.url" | "url.full" | "url.path") {
        let end = value.find(['?', '#']).unwrap_or(value.len());
        let mut v = value;
        v.truncate(end);
        return v;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_print_as_hex() {
        let t: TraceId = "0af7651916cd43dd8448eb211c80319c".parse().expect("id");
        assert_eq!(t.to_string(), "0af7651916cd43dd8448eb211c80319c");
        let s: SpanId = "b7ad6b7169203331".parse().expect("id");
        assert_eq!(s.to_string(), "b7ad6b7169203331");
        for bad in [
            "",
            "xyz",
            "0af7651916cd43dd8448eb211c80319",
            &"0".repeat(32),
            "é".repeat(16).as_str(),
        ] {
            let e = bad.parse::<TraceId>().expect_err(bad);
            assert_eq!(e.field, "traceId");
        }
        assert_eq!(
            serde_json::to_string(&t).expect("json"),
            "\"0af7651916cd43dd8448eb211c80319c\""
        );
    }

    #[test]
    fn urls_lose_their_query_string() {
        assert_eq!(
            shown_value(
                "http.url",
                "http://h/kyc/v1/customer?type=report&x=1".into()
            ),
            "http://h/kyc/v1/customer"
        );
        assert_eq!(shown_value("url.path", "/a#frag".into()), "/a");
        assert_eq!(shown_value("http.method", "GET?".into()), "GET?");
    }
}
