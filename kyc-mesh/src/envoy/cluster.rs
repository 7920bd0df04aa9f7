//! `envoy.config.cluster.v3.Cluster`: one per (host, subset, port), with the
//! DestinationRule's traffic policy.

use serde::Serialize;

use super::health::HealthCheck;
use super::tls::{TransportSocket, UpstreamTlsContext};
use super::{Address, Any, ClusterName, Duration, Message};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    pub name: ClusterName,
    #[serde(rename = "type")]
    pub discovery_type: DiscoveryType,
    pub connect_timeout: Duration,
    pub lb_policy: LbPolicy,
    pub load_assignment: LoadAssignment,
    pub circuit_breakers: CircuitBreakers,
    /// Readiness probes of every endpoint (see [`HealthCheck::readiness`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typed_extension_protocol_options: Option<ProtocolOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_lb_config: Option<CommonLbConfig>,
    /// mTLS to the endpoints' sidecars (Istio's auto mTLS / `ISTIO_MUTUAL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport_socket: Option<TransportSocket<UpstreamTlsContext>>,
}

impl Message for Cluster {
    const TYPE_URL: &'static str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscoveryType {
    /// Local pods have fixed loopback ports: no DNS, no EDS.
    Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LbPolicy {
    LeastRequest,
    RoundRobin,
    Random,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadAssignment {
    pub cluster_name: ClusterName,
    pub endpoints: Vec<LocalityLbEndpoints>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalityLbEndpoints {
    pub lb_endpoints: Vec<LbEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LbEndpoint {
    pub endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub address: Address,
}

impl LoadAssignment {
    /// One locality holding every local port the cluster's pods listen on.
    pub fn loopback(cluster_name: ClusterName, ports: &[u16]) -> Self {
        let lb_endpoints = ports
            .iter()
            .map(|p| LbEndpoint {
                endpoint: Endpoint {
                    address: Address::loopback(*p),
                },
            })
            .collect();
        LoadAssignment {
            cluster_name,
            endpoints: vec![LocalityLbEndpoints { lb_endpoints }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CircuitBreakers {
    pub thresholds: Vec<Thresholds>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    pub max_connections: u64,
    pub max_pending_requests: u64,
    pub max_requests: u64,
    pub max_retries: u64,
    pub track_remaining: bool,
}

/// `typed_extension_protocol_options` with the one extension the mesh sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolOptions {
    #[serde(rename = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions")]
    pub http: Any<HttpProtocolOptions>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpProtocolOptions {
    pub common_http_protocol_options: CommonHttpProtocolOptions,
    pub explicit_http_config: ExplicitHttpConfig,
}

impl Message for HttpProtocolOptions {
    const TYPE_URL: &'static str =
        "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CommonHttpProtocolOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
}

/// HTTP/1.1 upstream, as the services speak.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ExplicitHttpConfig {
    pub http_protocol_options: Http1Options,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Http1Options {}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct OutlierDetection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx: Option<u32>,
    pub enforcing_consecutive_5xx: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_failure: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcing_consecutive_gateway_failure: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<u32>,
    pub enforcing_success_rate: u32,
    /// Envoy's default (true) lets a passed active health check end an ejection at once; see
    /// `translate::cluster::outlier_detection` for why the local mesh turns it off.
    pub successful_active_health_check_uneject_host: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommonLbConfig {
    pub healthy_panic_threshold: PercentValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PercentValue {
    pub value: u32,
}
