//! What `kyc-mesh up` is told: paths, ports, the services' environment, Envoy's and the
//! supervision's settings (from the command line, `cli::UpArgs`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::envoy::limits::GatewayLimits;
use crate::envoy::telemetry::Telemetry;
use crate::supervise::{Backoff, RestartPolicy};
use crate::topology::Ports;

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub networking: PathBuf,
    pub scenario: Option<PathBuf>,
    pub ports: Ports,
    pub bin_dir: PathBuf,
    pub envoy: PathBuf,
    pub state_dir: PathBuf,
    /// Services already run elsewhere on the given ports: start only Envoy.
    pub external_services: bool,
    /// Extra environment per service: (binary, KEY, VALUE).
    pub service_env: Vec<(String, String, String)>,
    pub envoy_log_level: String,
    /// `envoy --concurrency`; `None` leaves Envoy's default (one worker per core).
    pub envoy_concurrency: Option<u16>,
    pub ready_timeout: Duration,
    /// The local Prometheus (observability): its binary when one is started, and its port.
    pub prometheus: Option<PathBuf>,
    pub prometheus_port: u16,
    /// Envoy's tracer and access log.
    pub telemetry: Telemetry,
    /// What happens to a service that exits, and the delays between its restarts.
    pub restart: RestartPolicy,
    pub backoff: Backoff,
    pub gateway_limits: GatewayLimits,
    /// The dashboard's port on 127.0.0.1 (0: any free one); `None`: no dashboard. Once
    /// started, the port it listens on (the banner shows it).
    pub dashboard_port: Option<u16>,
    /// Give each workload networking/ injects a sidecar (`--no-sidecars`: edge only).
    pub sidecars: bool,
}

impl UpOptions {
    /// The ports `up` was told to listen on: no hidden port may take one of them.
    pub(super) fn reserved_ports(&self) -> BTreeSet<u16> {
        let p = &self.ports;
        [
            p.aggregator,
            p.basic,
            p.advanced,
            p.gateway,
            p.admin,
            self.prometheus_port,
        ]
        .into_iter()
        .chain(self.dashboard_port)
        .filter(|&port| port != 0)
        .collect()
    }
}
