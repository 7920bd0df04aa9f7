//! How a command ends, and THE table of exit codes: 0 success; 1 the command ran and reports
//! a failure (findings, a rollback, a rejected switch, a request the mesh could not finish,
//! no answer); 2 usage, a refusal, or nothing to act on (no mesh, networking/ unreadable).
//! Every error is printed once, by `main`, as its one or more lines.

use crate::control::client::ClientError;
use crate::dashboard::ReplayError;
use crate::envoy::telemetry::BadCollector;
use crate::errors::chain;
use crate::snapshot::Rejected;
use crate::split::SplitError;
use crate::supervise::EnvoyNotFound;
use crate::up::UpError;

/// How a command that ran ends (what it printed says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// Findings, a rollback, a rejected switch, answers that were not a scorer's.
    Failure,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
        }
    }

    /// Success when `ok`.
    pub fn of(ok: bool) -> Self {
        if ok {
            Exit::Success
        } else {
            Exit::Failure
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Wrong usage, or nothing to act on.
    #[error("kyc-mesh: {0}")]
    Usage(String),
    /// The running mesh refused (`what`: the request).
    #[error("kyc-mesh: {what} refused: {message}")]
    Refused { what: String, message: String },
    /// The running mesh started the request and could not finish it.
    #[error("kyc-mesh: {what} failed: {message}")]
    Failed { what: String, message: String },
    /// networking/ does not translate (one line per problem).
    #[error("{0}")]
    NotTranslated(Rejected),
    /// `use`: the scenario does not translate for the running mesh.
    #[error("{0}\nkyc-mesh: scenario not switched")]
    NotSwitched(Rejected),
    /// networking/ does not load for a command that needs it.
    #[error("{0}")]
    CannotRead(Rejected),
    /// The command could not finish: no answer, not the one expected, a canary that could
    /// not start or whose mesh stopped.
    #[error("kyc-mesh: {0}")]
    Unfinished(String),
    /// The control socket: no mesh, no answer in time, an unreadable one.
    #[error("kyc-mesh: {}", chain(.0))]
    Control(#[from] ClientError),
    #[error("kyc-mesh: {}", chain(.0))]
    Up(#[from] UpError),
    #[error("kyc-mesh: {}", chain(.0))]
    Envoy(#[from] EnvoyNotFound),
    #[error("kyc-mesh: {}", chain(.0))]
    Telemetry(#[from] BadCollector),
    #[error("kyc-mesh: {}", chain(.0))]
    Split(#[from] SplitError),
    /// `replay`: no readable recording, or no port.
    #[error("kyc-mesh: {}", chain(.0))]
    Replay(#[from] ReplayError),
    #[error("kyc-mesh: {}", chain(.0))]
    Io(#[from] std::io::Error),
    #[error("kyc-mesh: {}", chain(.0))]
    Http(#[from] reqwest::Error),
    #[error("kyc-mesh: {}", chain(.0))]
    Json(#[from] serde_json::Error),
    #[error("kyc-mesh: {}", chain(.0))]
    Yaml(#[from] serde_norway::Error),
    #[error("kyc-mesh: cannot find the directory of kyc-mesh")]
    NoBinDir,
}

impl CliError {
    /// The exit code of a command that ends with this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed { .. }
            | CliError::NotTranslated(_)
            | CliError::NotSwitched(_)
            | CliError::Unfinished(_) => 1,
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_exit_code_and_one_line_per_problem() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        let refused = CliError::Refused {
            what: "chaos".into(),
            message: "unknown service".into(),
        };
        assert_eq!(
            refused.to_string(),
            "kyc-mesh: chaos refused: unknown service"
        );
        assert_eq!(refused.exit_code(), 2);
        let failed = CliError::Failed {
            what: "rollout restart".into(),
            message: "not ready".into(),
        };
        assert_eq!(failed.exit_code(), 1);
        let rejected = crate::snapshot::Rejected::NoGateway;
        let e = CliError::NotSwitched(rejected);
        assert_eq!(
            e.to_string(),
            "Error translation produced no ingress gateway configuration\nkyc-mesh: scenario not switched"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!((Exit::of(true).code(), Exit::of(false).code()), (0, 1));
    }
}
