//! What stops `kyc-mesh up` from starting (or running): one error type for the layer; the CLI
//! prints it as one line with its causes and exits 2.

use std::path::PathBuf;
use std::time::Duration;

use crate::apply::ApplyError;
use crate::control::server::ServerError;
use crate::identity::IdentityError;
use crate::prometheus::PrometheusError;
use crate::supervise::SuperviseError;

use super::probe::ChaosPushError;

#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// The lines of what is wrong were printed before.
    #[error("networking/ cannot be translated; nothing started")]
    NotTranslated,
    #[error("port {port} is given twice (for {what} and the dashboard); choose distinct ports")]
    DashboardPort { port: u16, what: String },
    #[error("port {port} is given twice (for {what}); choose distinct ports")]
    PortTwice { port: u16, what: String },
    #[error("port {port} for {what} on 127.0.0.1 is already in use (another kyc-mesh up?); stop it or pick another port (see --help)")]
    PortInUse { port: u16, what: String },
    #[error("{} not found; build it with `cargo build --release --workspace --bins` or pass --bin-dir / KYC_BIN_DIR", .0.display())]
    BinaryMissing(PathBuf),
    #[error("{0} has no sidecar ports")]
    NoSidecarPorts(String),
    #[error("{name} exited during start-up ({status})")]
    EnvoyExited { name: String, status: String },
    #[error("Envoy could not open {0} (port in use?)")]
    EnvoyPort(String),
    #[error("{name} not ready on admin port {port} within {timeout:?}")]
    EnvoyNotReady {
        name: String,
        port: u16,
        timeout: Duration,
    },
    #[error("ambient mode: {0}")]
    Ambient(String),
    #[error("{name} runs but Envoy did not take it as an endpoint: {error}")]
    NotAnEndpoint { name: String, error: ApplyError },
    #[error("watching {}", .path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error(transparent)]
    Notify(#[from] notify::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Record(#[from] crate::dashboard::RecordingError),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Supervise(#[from] SuperviseError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Control(#[from] ServerError),
    #[error(transparent)]
    Prometheus(#[from] PrometheusError),
    #[error(transparent)]
    Chaos(#[from] ChaosPushError),
}

/// How a mesh that ran ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// Ctrl-C or SIGTERM: everything stopped cleanly (exit 0).
    Asked,
    /// An Envoy (the gateway or a sidecar) exited, so everything was stopped (exit 1).
    ProxyExited,
    /// `kyc-mesh use` moved workloads between the sidecar and the ambient data plane: every
    /// child was stopped to start again with the scenario of the state file (as pods restart
    /// for it in the cluster).
    Restart,
}
