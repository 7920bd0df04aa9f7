//! `envoy.config.cluster.v3.Cluster`: one per (host, subset, port), with the
//! DestinationRule's traffic policy.

use serde::Serialize;

use super::health::HealthCheck;
use super::tls::{TransportSocket, UpstreamTlsContext};
use super::{Address, Any, ClusterName, Duration, Message};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Cluster {
    pub(crate) name: ClusterName,
    #[serde(rename = "type")]
    pub(crate) discovery_type: DiscoveryType,
    pub(crate) connect_timeout: Duration,
    pub(crate) lb_policy: LbPolicy,
    pub(crate) load_assignment: LoadAssignment,
    pub(crate) circuit_breakers: CircuitBreakers,
    /// Readiness probes of every endpoint (see [`HealthCheck::readiness`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) health_checks: Vec<HealthCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) typed_extension_protocol_options: Option<ProtocolOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) outlier_detection: Option<OutlierDetection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) common_lb_config: Option<CommonLbConfig>,
    /// mTLS to the endpoints' sidecars (Istio's auto mTLS / `ISTIO_MUTUAL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transport_socket: Option<TransportSocket<UpstreamTlsContext>>,
}

impl Message for Cluster {
    const TYPE_URL: &'static str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum DiscoveryType {
    /// Local pods have fixed loopback ports: no DNS, no EDS.
    Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum LbPolicy {
    LeastRequest,
    RoundRobin,
    Random,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LoadAssignment {
    pub(crate) cluster_name: ClusterName,
    pub(crate) endpoints: Vec<LocalityLbEndpoints>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LocalityLbEndpoints {
    pub(crate) lb_endpoints: Vec<LbEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LbEndpoint {
    pub(crate) endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Endpoint {
    pub(crate) address: Address,
}

impl LoadAssignment {
    /// One locality holding every local port the cluster's pods listen on.
    pub(crate) fn loopback(cluster_name: ClusterName, ports: &[u16]) -> Self {
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
pub(crate) struct CircuitBreakers {
    pub(crate) thresholds: Vec<Thresholds>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Thresholds {
    pub(crate) max_connections: u64,
    pub(crate) max_pending_requests: u64,
    pub(crate) max_requests: u64,
    pub(crate) max_retries: u64,
    pub(crate) track_remaining: bool,
}

/// `typed_extension_protocol_options` with the one extension the mesh sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ProtocolOptions {
    #[serde(rename = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions")]
    pub(crate) http: Any<HttpProtocolOptions>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct HttpProtocolOptions {
    pub(crate) common_http_protocol_options: CommonHttpProtocolOptions,
    pub(crate) explicit_http_config: ExplicitHttpConfig,
}

impl Message for HttpProtocolOptions {
    const TYPE_URL: &'static str =
        "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub(crate) struct CommonHttpProtocolOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_requests_per_connection: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) idle_timeout: Option<Duration>,
}

/// HTTP/1.1 upstream, as the services speak.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub(crate) struct ExplicitHttpConfig {
    pub(crate) http_protocol_options: Http1Options,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub(crate) struct Http1Options {}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub(crate) struct OutlierDetection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) consecutive_5xx: Option<u32>,
    pub(crate) enforcing_consecutive_5xx: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) consecutive_gateway_failure: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) enforcing_consecutive_gateway_failure: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) base_ejection_time: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_ejection_percent: Option<u32>,
    pub(crate) enforcing_success_rate: u32,
    /// Envoy's default (true) lets a passed active health check end an ejection at once; see
    /// `translate::cluster::outlier_detection` for why the local mesh turns it off.
    pub(crate) successful_active_health_check_uneject_host: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CommonLbConfig {
    pub(crate) healthy_panic_threshold: PercentValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct PercentValue {
    pub(crate) value: u32,
}
