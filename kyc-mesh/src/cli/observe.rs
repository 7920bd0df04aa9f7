//! `up`'s observability flags: the local Prometheus, Envoy's access log, and where spans go: `up`'s
//! own OTLP receiver (on by default, `--no-traces`), or where the standard `OTEL_*` variables say.

use std::path::PathBuf;

use clap::Args;

use crate::envoy::telemetry::{BadCollector, Collector, Telemetry};
use crate::prometheus;
use crate::traces;

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
    /// Do not start the local OTLP receiver (the services and Envoys then trace only when
    /// OTEL_EXPORTER_OTLP_ENDPOINT is set)
    #[arg(long)]
    no_traces: bool,
    /// Port of the local OTLP/HTTP receiver (127.0.0.1; 0 = any free port)
    #[arg(long, value_name = "PORT", default_value_t = traces::DEFAULT_HTTP_PORT)]
    otlp_http_port: u16,
    /// Port of the local OTLP/gRPC receiver (127.0.0.1; 0 = any free port)
    #[arg(long, value_name = "PORT", default_value_t = traces::DEFAULT_GRPC_PORT)]
    otlp_grpc_port: u16,
    /// The receiver keeps the last N traces (the oldest are dropped, and counted)
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    traces_max: u64,
    /// ... and at most this many MiB of spans and access-log lines
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    traces_max_mb: u64,
    /// The largest OTLP request body the receiver reads, in KiB (larger: 413)
    #[arg(long, value_name = "KIB", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=65536))]
    otlp_max_body_kb: u64,
}

impl ObserveArgs {
    /// What `up` without arguments means.
    pub(super) fn defaults() -> Self {
        ObserveArgs {
            prometheus_port: prometheus::DEFAULT_PORT,
            otlp_http_port: traces::DEFAULT_HTTP_PORT,
            otlp_grpc_port: traces::DEFAULT_GRPC_PORT,
            traces_max: 2000,
            traces_max_mb: 64,
            otlp_max_body_kb: 4096,
            ..ObserveArgs::default()
        }
    }

    /// Envoy's tracer (to `OTEL_EXPORTER_OTLP_ENDPOINT`, as the services) and access log.
    pub(super) fn telemetry(&self) -> Result<Telemetry, BadCollector> {
        let collector = Collector::from_vars(|k| std::env::var(k).ok()).transpose()?;
        Ok(Telemetry {
            collector,
            access_log: self.access_log,
            log_receiver: None,
        })
    }

    /// `up`'s own receiver, unless `--no-traces` or the user sends spans elsewhere
    /// (`telemetry` has a collector from `OTEL_EXPORTER_OTLP_*`).
    pub(super) fn receiver(&self, telemetry: &Telemetry) -> Option<traces::Config> {
        if self.no_traces || telemetry.collector.is_some() {
            return None;
        }
        let mib = usize::try_from(self.traces_max_mb).unwrap_or(usize::MAX);
        Some(traces::Config {
            http_port: self.otlp_http_port,
            grpc_port: self.otlp_grpc_port,
            limits: traces::store::Limits {
                max_traces: usize::try_from(self.traces_max).unwrap_or(usize::MAX),
                max_bytes: mib.saturating_mul(1 << 20),
                ..traces::store::Limits::default()
            },
            max_body: usize::try_from(self.otlp_max_body_kb)
                .unwrap_or(usize::MAX)
                .saturating_mul(1024),
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
