//! One request to the running `up` for a one-shot command (`rollout restart`, `chaos`,
//! `canary promote|abort`): its answer printed, a refusal (exit 2) or a failure (exit 1) as
//! a [`CliError`].

use std::time::Duration;

use crate::control::client::call;
use crate::control::protocol::{Request, Response};

use super::error::{CliError, Exit};
use super::Common;

/// Send `request` (`what` names it in a refusal or failure) and wait up to `timeout`.
pub(super) async fn ask(
    c: &Common,
    request: Request,
    what: &str,
    timeout: Duration,
) -> Result<Exit, CliError> {
    match call(&c.state_dir(), request, timeout).await? {
        Response::Done { message, .. } => {
            println!("kyc-mesh: {message}");
            Ok(Exit::Success)
        }
        Response::Refused { message, .. } => Err(CliError::Refused {
            what: what.into(),
            message,
        }),
        Response::Failed { message } => Err(CliError::Failed {
            what: what.into(),
            message,
        }),
    }
}
