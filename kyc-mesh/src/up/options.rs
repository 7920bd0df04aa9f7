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
pub(crate) struct UpOptions {
    pub(crate) networking: PathBuf,
    pub(crate) scenario: Option<PathBuf>,
    pub(crate) ports: Ports,
    pub(crate) bin_dir: PathBuf,
    pub(crate) envoy: PathBuf,
    pub(crate) state_dir: PathBuf,
    /// Services already run elsewhere on the given ports: start only Envoy.
    pub(crate) external_services: bool,
    /// Extra environment per service: (binary, KEY, VALUE).
    pub(crate) service_env: Vec<(String, String, String)>,
    pub(crate) envoy_log_level: String,
    /// `envoy --concurrency`; `None` leaves Envoy's default (one worker per core).
    pub(crate) envoy_concurrency: Option<u16>,
    pub(crate) ready_timeout: Duration,
    /// The local Prometheus (observability): its binary when one is started, and its port.
    pub(crate) prometheus: Option<PathBuf>,
    pub(crate) prometheus_port: u16,
    /// Envoy's tracer and access log.
    pub(crate) telemetry: Telemetry,
    /// `up`'s own OTLP receiver (`None`: `--no-traces`, or spans go where
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` says). Once started, its ports.
    pub(crate) traces: Option<crate::traces::Config>,
    /// `--record DIR`: the dashboard's state stream, events and a sample of traces written there.
    pub(crate) record: Option<PathBuf>,
    /// What happens to a service that exits, and the delays between its restarts.
    pub(crate) restart: RestartPolicy,
    pub(crate) backoff: Backoff,
    pub(crate) gateway_limits: GatewayLimits,
    /// The dashboard's port on 127.0.0.1 (0: any free one); `None`: no dashboard. Once
    /// started, the port it listens on (the banner shows it).
    pub(crate) dashboard_port: Option<u16>,
    /// Give each workload networking/ injects a sidecar (`--no-sidecars`: edge only).
    pub(crate) sidecars: bool,
    /// The data plane asked for (`--dataplane`); `None`: networking/'s labels decide.
    pub(crate) dataplane: Option<Dataplane>,
    /// Ambient mode: how many node proxies (`--nodes`); instances are spread round robin.
    pub(crate) nodes: usize,
}

/// Sidecars (`istio-injection`) or ambient (`istio.io/dataplane-mode: ambient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dataplane {
    Sidecar,
    Ambient,
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
        .chain(self.traces.iter().flat_map(|t| [t.http_port, t.grpc_port]))
        .filter(|&port| port != 0)
        .collect()
    }
}
