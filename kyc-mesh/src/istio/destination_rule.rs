//! Istio `DestinationRule`: subsets (which pods a version is) and the traffic policy
//! (connection pool, outlier detection, load balancer) of a host or subset.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Resource, Spec};

pub type DestinationRule = Resource<DestinationRuleSpec>;

impl Spec for DestinationRuleSpec {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRuleSpec {
    pub host: String,
    pub traffic_policy: Option<TrafficPolicy>,
    #[serde(default)]
    pub subsets: Vec<Subset>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subset {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub traffic_policy: Option<TrafficPolicy>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicy {
    pub connection_pool: Option<ConnectionPool>,
    pub outlier_detection: Option<OutlierDetection>,
    pub load_balancer: Option<LoadBalancer>,
    /// How the calling sidecar speaks to the destination (`ISTIO_MUTUAL`, `DISABLE`).
    pub tls: Option<ClientTls>,
}

/// `trafficPolicy.tls`: only the modes between mesh workloads are translated.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientTls {
    pub mode: ClientTlsMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    Disable,
    IstioMutual,
    /// TLS to a server outside the mesh: refused by translation (no certificates for it).
    Simple,
    Mutual,
}

impl TrafficPolicy {
    /// A subset's policy replaces the host's one setting by setting, as in Istio.
    pub fn merged_with(mut self, over: &TrafficPolicy) -> TrafficPolicy {
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
pub struct ConnectionPool {
    pub tcp: Option<TcpPool>,
    pub http: Option<HttpPool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpPool {
    pub max_connections: Option<u32>,
    pub connect_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpPool {
    pub http1_max_pending_requests: Option<u32>,
    pub http2_max_requests: Option<u32>,
    pub max_requests_per_connection: Option<u32>,
    pub max_retries: Option<u32>,
    pub idle_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlierDetection {
    pub consecutive_5xx_errors: Option<u32>,
    pub consecutive_gateway_errors: Option<u32>,
    pub interval: Option<String>,
    pub base_ejection_time: Option<String>,
    pub max_ejection_percent: Option<u32>,
    pub min_health_percent: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    pub simple: String,
}
