//! Istio `DestinationRule`: subsets (which pods a version is) and the traffic policy
//! (connection pool, outlier detection, load balancer) of a host or subset.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Resource, Spec};

pub(crate) type DestinationRule = Resource<DestinationRuleSpec>;

impl Spec for DestinationRuleSpec {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DestinationRuleSpec {
    pub(crate) host: String,
    pub(crate) traffic_policy: Option<TrafficPolicy>,
    #[serde(default)]
    pub(crate) subsets: Vec<Subset>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Subset {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) traffic_policy: Option<TrafficPolicy>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TrafficPolicy {
    pub(crate) connection_pool: Option<ConnectionPool>,
    pub(crate) outlier_detection: Option<OutlierDetection>,
    pub(crate) load_balancer: Option<LoadBalancer>,
    /// How the calling sidecar speaks to the destination (`ISTIO_MUTUAL`, `DISABLE`).
    pub(crate) tls: Option<ClientTls>,
}

/// `trafficPolicy.tls`: only the modes between mesh workloads are translated.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ClientTls {
    pub(crate) mode: ClientTlsMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum ClientTlsMode {
    Disable,
    IstioMutual,
    /// TLS to a server outside the mesh: refused by translation (no certificates for it).
    Simple,
    Mutual,
}

impl TrafficPolicy {
    /// A subset's policy replaces the host's one setting by setting, as in Istio.
    pub(crate) fn merged_with(mut self, over: &TrafficPolicy) -> TrafficPolicy {
        if over.connection_pool.is_some() {
            self.connection_pool = over.connection_pool.clone();
        }
        if over.outlier_detection.is_some() {
            self.outlier_detection = over.outlier_detection.clone();
        }
        if over.load_balancer.is_some() {
            self.load_balancer = over.load_balancer.clone();
        }
        if over.tls.is_some() {
            self.tls = over.tls.clone();
        }
        self
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConnectionPool {
    pub(crate) tcp: Option<TcpPool>,
    pub(crate) http: Option<HttpPool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TcpPool {
    pub(crate) max_connections: Option<u32>,
    pub(crate) connect_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HttpPool {
    pub(crate) http1_max_pending_requests: Option<u32>,
    pub(crate) http2_max_requests: Option<u32>,
    pub(crate) max_requests_per_connection: Option<u32>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) idle_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OutlierDetection {
    pub(crate) consecutive_5xx_errors: Option<u32>,
    pub(crate) consecutive_gateway_errors: Option<u32>,
    pub(crate) interval: Option<String>,
    pub(crate) base_ejection_time: Option<String>,
    pub(crate) max_ejection_percent: Option<u32>,
    pub(crate) min_health_percent: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LoadBalancer {
    pub(crate) simple: String,
}
