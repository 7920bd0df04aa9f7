//! What the gateway bounds for hostile or broken clients: how long a client may take to
//! send its request headers (slowloris), how large they may be (431 above), and how many
//! downstream connections Envoy holds at once (the overload manager's global limit: a new
//! connection above it is closed at once).

use serde::Serialize;

use super::Duration;

/// The gateway's client-facing limits (`kyc-mesh up --gateway-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayLimits {
    /// Request headers larger than this get 431 (Envoy's and Istio's default: 60 KiB).
    pub max_request_headers_kb: u32,
    /// Time from a request's first header byte to its last; a slower client gets 408 and
    /// its connection closed.
    pub request_headers_timeout: std::time::Duration,
    /// Downstream connections Envoy holds at once, over all its listeners.
    pub max_connections: u64,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        GatewayLimits {
            max_request_headers_kb: 60,
            request_headers_timeout: std::time::Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

/// The connection manager fields the limits set (flattened into `HttpConnectionManager`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HcmLimits {
    pub max_request_headers_kb: u32,
    pub request_headers_timeout: Duration,
    pub common_http_protocol_options: HeaderCount,
}

/// Envoy's default header count limit, written out so the config says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeaderCount {
    pub max_headers_count: u32,
}

impl GatewayLimits {
    pub fn hcm(&self) -> HcmLimits {
        HcmLimits {
            max_request_headers_kb: self.max_request_headers_kb,
            request_headers_timeout: Duration(self.request_headers_timeout),
            common_http_protocol_options: HeaderCount {
                max_headers_count: 100,
            },
        }
    }
}
