//! `envoy.config.core.v3.HealthCheck`: active readiness checking of a cluster's endpoints.
//!
//! Kubernetes takes a pod out of a Service's endpoints while its readiness probe fails;
//! the local mesh gets the same from Envoy itself: every cluster probes `GET /readyz` of
//! each endpoint, and an endpoint that answers anything but 200 (a service draining after
//! SIGTERM, a restarting one, one that is not up yet) gets no new requests until it
//! answers 200 again.

use serde::Serialize;

use super::Duration;

/// The readiness path every KYC service serves (`kyc-common/src/http/probes.rs`).
pub(crate) const READINESS_PATH: &str = "/readyz";

/// How often each endpoint is probed.
pub(crate) const READINESS_INTERVAL_MS: u64 = 500;

/// Failed probes in a row that take an endpoint out (Kubernetes' `failureThreshold`). Two,
/// so an endpoint is never taken out sooner than one interval after it started draining: a
/// request already on its way to the gateway when the service got SIGTERM still reaches it.
pub(crate) const READINESS_FAILURES: u32 = 2;

/// The longest an endpoint keeps getting new requests after its `/readyz` turned 503
/// (probes and their timeouts): a draining service must keep serving at least this long
/// (`up` gives the services a `KYC_DRAIN_MS` above it).
pub(crate) const READINESS_REACTION_MS: u64 =
    READINESS_INTERVAL_MS * READINESS_FAILURES as u64 + READINESS_TIMEOUT_MS;

const READINESS_TIMEOUT_MS: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HealthCheck {
    pub(crate) timeout: Duration,
    pub(crate) interval: Duration,
    /// Envoy probes idle clusters only every 60 s by default: a cluster that gets traffic
    /// again must not wait that long to learn its endpoint is draining.
    pub(crate) no_traffic_interval: Duration,
    pub(crate) unhealthy_threshold: u32,
    pub(crate) healthy_threshold: u32,
    pub(crate) http_health_check: HttpHealthCheck,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HttpHealthCheck {
    pub(crate) path: &'static str,
    /// The probe's `Host`. Envoy's default is the cluster's name, which istiod's `|`
    /// makes an invalid host for the HTTP connection manager of a sidecar in between.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) host: Option<String>,
}

impl HealthCheck {
    /// [`READINESS_FAILURES`] failed probes take the endpoint out, one 200 brings it back.
    pub(crate) fn readiness(host: Option<String>) -> Self {
        let ms = |v| Duration(std::time::Duration::from_millis(v));
        HealthCheck {
            timeout: ms(READINESS_TIMEOUT_MS),
            interval: ms(READINESS_INTERVAL_MS),
            no_traffic_interval: ms(READINESS_INTERVAL_MS),
            unhealthy_threshold: READINESS_FAILURES,
            healthy_threshold: 1,
            http_health_check: HttpHealthCheck {
                path: READINESS_PATH,
                host,
            },
        }
    }
}
