//! `kyc-mesh canary`: the dispatch to the local run (a client of the canary inside `up`,
//! [`super::canary_watch`]) or the cluster run ([`super::canary_cluster`]), and the
//! subcommands (`promote`, `abort`, `status`).

use std::time::Duration;

use crate::control::client::call;
use crate::control::protocol::{Request, Response};

use super::ask::ask;
use super::canary_args::{CanaryArgs, CanaryCmd};
use super::chaos::ANSWER_TIMEOUT;
use super::error::{CliError, Exit};
use super::Common;

/// Exit codes: 0 promoted (or a subcommand done), 1 rolled back, 2 usage or no mesh.
pub(super) async fn run(c: &Common, a: &CanaryArgs) -> Result<Exit, CliError> {
    match &a.action {
        Some(CanaryCmd::Promote) => ask(c, Request::CanaryPromote, "promote", ANSWER_TIMEOUT).await,
        Some(CanaryCmd::Abort) => ask(c, Request::CanaryAbort, "abort", ANSWER_TIMEOUT).await,
        Some(CanaryCmd::Status { json }) => status(c, *json).await,
        None => {
            let spec = a.run.spec();
            spec.validate()
                .map_err(|e| CliError::Usage(format!("canary: {e}")))?;
            if a.run.cluster {
                super::canary_cluster::run(c, &a.run, spec).await
            } else {
                super::canary_watch::run(c, &a.run, spec).await
            }
        }
    }
}

async fn status(c: &Common, json: bool) -> Result<Exit, CliError> {
    match call(
        &c.state_dir(),
        Request::CanaryStatus,
        Duration::from_secs(10),
    )
    .await?
    {
        Response::Done {
            state: Some(state), ..
        } => {
            let Some(s) = state.canary else {
                return Err(CliError::Usage("no canary has run in this mesh".into()));
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "{} on {}/{}: canary {} at {}%, stable {} ; {} failed check(s) of {}",
                    super::canary_print::phase(s.phase),
                    s.spec.virtual_service,
                    s.spec.route,
                    s.canary,
                    s.weight,
                    s.stable,
                    s.failed_checks,
                    s.spec.threshold
                );
                if let Some(check) = &s.last {
                    println!(
                        "last check: {}",
                        super::canary_print::line(check, s.spec.threshold)
                    );
                }
                println!("{}", s.message);
            }
            Ok(Exit::Success)
        }
        Response::Refused { message, .. } => Err(CliError::Usage(message)),
        other => Err(CliError::Unfinished(format!("unexpected answer {other:?}"))),
    }
}
