//! `up`'s observability flags: the local Prometheus, Envoy's access log (and its tracer, from the
//! standard `OTEL_*` variables).

use std::path::PathBuf;

use clap::Args;

use crate::envoy::telemetry::{BadCollector, Collector, Telemetry};
use crate::prometheus;

#[derive(Args, Debug, Default)]
pub(super) struct ObserveArgs {
    /// Prometheus binary, started next to the mesh [default: `prometheus` on PATH, when there is one]
    #[arg(long = "prometheus", value_name = "PATH", env = prometheus::BIN_ENV)]
    prometheus_bin: Option<PathBuf>,
    /// Port of the local Prometheus (on 127.0.0.1)
    #[arg(long, default_value_t = prometheus::DEFAULT_PORT)]
    pub(crate) prometheus_port: u16,
    /// Do not start Prometheus, even when one is installed
    #[arg(long)]
    no_prometheus: bool,
    /// Envoy writes one access-log line per request on its stdout (path without query string, no body)
    #[arg(long)]
    access_log: bool,
}

impl ObserveArgs {
    /// What `up` without arguments means.
    pub(super) fn defaults() -> Self {
        ObserveArgs {
            prometheus_port: prometheus::DEFAULT_PORT,
            ..ObserveArgs::default()
        }
    }

    /// Envoy's tracer (to `OTEL_EXPORTER_OTLP_ENDPOINT`, as the services) and access log.
    pub(super) fn telemetry(&self) -> Result<Telemetry, BadCollector> {
        let collector = Collector::from_vars(|k| std::env::var(k).ok()).transpose()?;
        Ok(Telemetry {
            collector,
            access_log: self.access_log,
        })
    }

    /// The Prometheus to start, if any (prints how to install one when none is found, and runs on
    /// without it when its port is taken, e.g. by a system-wide Prometheus).
    pub(super) fn prometheus(&self) -> Option<PathBuf> {
        let binary = prometheus::choose(self.prometheus_bin.as_deref(), self.no_prometheus)?;
        if std::net::TcpListener::bind(("127.0.0.1", self.prometheus_port)).is_err() {
            eprintln!(
                "kyc-mesh: port {} is in use (another Prometheus?); running without the local one (see --prometheus-port)",
                self.prometheus_port
            );
            return None;
        }
        Some(binary)
    }
}
