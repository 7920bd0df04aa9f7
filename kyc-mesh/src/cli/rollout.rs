//! `kyc-mesh rollout restart SERVICE`: ask the running `up` (same state directory) over the
//! control channel, print its answer.

use std::time::Duration;

use crate::control::protocol::Request;
use crate::topology::BINARIES;

use super::ask::ask;
use super::error::{CliError, Exit};
use super::Common;

/// Long enough for a start-up (`up --ready-timeout`'s default 30 s), the reloads and a drain.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Exit codes: 0 done, 1 failed (the old instance keeps serving), 2 refused or no mesh.
pub(super) async fn restart(c: &Common, service: &str) -> Result<Exit, CliError> {
    if !BINARIES.contains(&service) {
        return Err(CliError::Usage(format!(
            "unknown service {service:?} (one of {})",
            BINARIES.join(", ")
        )));
    }
    let request = Request::RolloutRestart {
        service: service.to_string(),
    };
    // Every refusal (unknown service, unavailable, bad request) is a usage problem.
    ask(c, request, "rollout restart", ANSWER_TIMEOUT).await
}
