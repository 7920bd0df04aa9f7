//! `up` options of the supervision and of the gateway's client limits (flattened into
//! `UpArgs`).

use std::time::Duration;

use clap::ValueEnum;

use crate::envoy::limits::GatewayLimits;
use crate::supervise::{Backoff, RestartPolicy};

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Restart {
    /// Restart a service that exits, with capped exponential back-off (the kubelet's Always)
    #[default]
    Always,
    /// Leave a service that exits dead (the gateway answers 503 for routes that need it)
    Never,
}

/// `up --dataplane`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DataplaneArg {
    /// An Envoy sidecar per instance (networking/'s `istio-injection: enabled`)
    Sidecar,
    /// Ambient mode: a node proxy (HBONE) and waypoints; without --scenario, networking/scenarios/ambient.yaml
    Ambient,
}

impl DataplaneArg {
    pub(super) fn dataplane(self) -> crate::up::Dataplane {
        match self {
            DataplaneArg::Sidecar => crate::up::Dataplane::Sidecar,
            DataplaneArg::Ambient => crate::up::Dataplane::Ambient,
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub(super) struct SupervisionArgs {
    /// What happens to a service that exits
    #[arg(long, value_enum, default_value_t = Restart::Always)]
    restart: Restart,
    /// Seconds before the first restart; each further restart waits twice as long
    #[arg(long, value_name = "SECONDS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    restart_backoff: u64,
    /// Cap of the restart back-off in seconds; running twice this long resets it (the kubelet: 10 → 300)
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    restart_backoff_max: u64,
}

impl Default for SupervisionArgs {
    fn default() -> Self {
        SupervisionArgs {
            restart: Restart::Always,
            restart_backoff: 1,
            restart_backoff_max: 30,
        }
    }
}

impl SupervisionArgs {
    pub(super) fn policy(&self) -> RestartPolicy {
        match self.restart {
            Restart::Always => RestartPolicy::Always,
            Restart::Never => RestartPolicy::Never,
        }
    }

    pub(super) fn backoff(&self) -> Backoff {
        Backoff::new(
            Duration::from_secs(self.restart_backoff),
            Duration::from_secs(self.restart_backoff_max),
        )
    }
}

#[derive(clap::Args, Debug, Clone)]
pub(super) struct GatewayArgs {
    /// Request headers above this many KiB get 431 at the gateway
    #[arg(long, value_name = "KIB", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=8192))]
    gateway_max_header_kb: u32,
    /// Milliseconds a client may take to send its request headers (slow clients get 408 and are disconnected)
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    gateway_header_timeout_ms: u64,
    /// Client connections Envoy holds at once; a connection above it is closed at once
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    gateway_max_connections: u64,
}

impl Default for GatewayArgs {
    fn default() -> Self {
        let d = GatewayLimits::default();
        GatewayArgs {
            gateway_max_header_kb: d.max_request_headers_kb,
            gateway_header_timeout_ms: d.request_headers_timeout.as_millis() as u64,
            gateway_max_connections: d.max_connections,
        }
    }
}

impl GatewayArgs {
    pub(super) fn limits(&self) -> GatewayLimits {
        GatewayLimits {
            max_request_headers_kb: self.gateway_max_header_kb,
            request_headers_timeout: Duration::from_millis(self.gateway_header_timeout_ms),
            max_connections: self.gateway_max_connections,
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub(super) struct DashboardArgs {
    /// Port of the live dashboard (on 127.0.0.1 only; 0 = any free port)
    #[arg(long, value_name = "PORT", default_value_t = crate::dashboard::DEFAULT_PORT)]
    dashboard_port: u16,
    /// Do not serve the dashboard
    #[arg(long)]
    no_dashboard: bool,
    /// Record the session into DIR (a new or empty directory): the dashboard's state every
    /// second, the events, the canary's checks and a sample of traces, append-only; replay it
    /// with `kyc-mesh replay DIR`
    #[arg(long, value_name = "DIR", conflicts_with = "no_dashboard")]
    pub(super) record: Option<std::path::PathBuf>,
}

impl Default for DashboardArgs {
    fn default() -> Self {
        DashboardArgs {
            dashboard_port: crate::dashboard::DEFAULT_PORT,
            no_dashboard: false,
            record: None,
        }
    }
}

impl DashboardArgs {
    /// The port `up` serves the dashboard on, `None` without one.
    pub(super) fn port(&self) -> Option<u16> {
        (!self.no_dashboard).then_some(self.dashboard_port)
    }
}
