//! `kyc-mesh rollout restart SERVICE`: ask the running `up` (same state directory) over the
//! control channel, print its answer.

use std::time::Duration;

use anyhow::Result;

use crate::control::client::{call, ClientError};
use crate::control::protocol::{Request, Response};
use crate::topology::BINARIES;

use super::Common;

/// Long enough for a start-up (`up --ready-timeout`'s default 30 s), the reloads and a drain.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Exit codes: 0 done, 1 failed (the old instance keeps serving), 2 refused or no mesh.
pub(super) async fn restart(c: &Common, service: &str) -> Result<i32> {
    if !BINARIES.contains(&service) {
        eprintln!(
            "kyc-mesh: unknown service {service:?} (one of {})",
            BINARIES.join(", ")
        );
        return Ok(2);
    }
    let request = Request::RolloutRestart {
        service: service.to_string(),
    };
    match call(&c.state_dir(), request, ANSWER_TIMEOUT).await {
        Ok(Response::Done { message, .. }) => {
            println!("kyc-mesh: {message}");
            Ok(0)
        }
        // Every refusal (unknown service, unavailable, bad request) is a usage problem.
        Ok(Response::Refused { message, .. }) => {
            eprintln!("kyc-mesh: rollout restart refused: {message}");
            Ok(2)
        }
        Ok(Response::Failed { message }) => {
            eprintln!("kyc-mesh: rollout restart failed: {message}");
            Ok(1)
        }
        Err(e @ ClientError::NoMesh { .. }) => {
            eprintln!("kyc-mesh: {e}");
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}
