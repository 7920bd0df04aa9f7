//! `kyc-mesh chaos SERVICE [--instance N | --pod NAME] --error-rate F --delay DUR` / `--off`:
//! runtime chaos on every instance of a service of the running `up`, or on one of them,
//! effective at once (through the control socket).

use std::time::Duration;

use crate::control::protocol::Request;
use crate::envoy::values::DurationError;
use crate::topology::BINARIES;

use super::ask::ask;
use super::error::{CliError, Exit};
use super::Common;

#[derive(clap::Args, Debug)]
pub(crate) struct ChaosArgs {
    /// The service whose instances fail or slow down (e.g. kyc-credit-check-advanced)
    #[arg(value_name = "SERVICE")]
    service: String,
    /// Share (0..1) of business requests answered 503
    #[arg(long, value_name = "F", value_parser = share, required_unless_present_any = ["delay", "off"])]
    error_rate: Option<f64>,
    /// Latency added to business requests (e.g. 200ms, 1s; at most 60s)
    #[arg(long, value_name = "DUR", value_parser = duration)]
    delay: Option<Duration>,
    /// Turn runtime chaos off (the service behaves normally again)
    #[arg(long, conflicts_with_all = ["error_rate", "delay"])]
    off: bool,
    /// Only this instance of the service (0, 1, …: `kyc-mesh status` lists them); default: all
    #[arg(long, value_name = "N", conflicts_with = "pod")]
    instance: Option<u32>,
    /// Only the instance with this name (e.g. kyc-credit-check-advanced-1), as `kubectl` names a pod
    #[arg(long, value_name = "NAME")]
    pod: Option<String>,
}

/// The instance name `--instance`/`--pod` pick (`None`: every instance); Err names the problem.
fn instance(a: &ChaosArgs) -> Result<Option<String>, CliError> {
    match (&a.instance, &a.pod) {
        (Some(n), _) => Ok(Some(crate::topology::Topology::pod_name(
            &a.service,
            *n as usize,
        ))),
        (None, Some(pod)) => {
            let index = pod
                .strip_prefix(&a.service)
                .and_then(|rest| rest.strip_prefix('-'))
                .filter(|n| n.parse::<u32>().is_ok());
            match index {
                Some(_) => Ok(Some(pod.clone())),
                None => Err(CliError::Usage(format!(
                    "--pod {pod:?} is not an instance of {} (its instances are named {}-0, {}-1, …)",
                    a.service, a.service, a.service
                ))),
            }
        }
        (None, None) => Ok(None),
    }
}

/// `--error-rate` that is not a share.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a number between 0 and 1")]
pub(super) struct NotAShare(String);

fn share(s: &str) -> Result<f64, NotAShare> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(NotAShare(s.to_string())),
    }
}

/// An Istio-style duration (`200ms`, `1.5s`, `1m`).
pub(super) fn duration(s: &str) -> Result<Duration, DurationError> {
    crate::envoy::values::Duration::parse_istio(s).map(|d| d.0)
}

/// Exit codes: 0 done, 1 failed (an instance did not take it), 2 usage, refused or no mesh.
pub(super) async fn run(c: &Common, a: &ChaosArgs) -> Result<Exit, CliError> {
    if !BINARIES.contains(&a.service.as_str()) {
        return Err(CliError::Usage(format!(
            "unknown service {:?} (one of {})",
            a.service,
            BINARIES.join(", ")
        )));
    }
    let delay_ms = a
        .delay
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let request = Request::Chaos {
        service: a.service.clone(),
        instance: instance(a)?,
        error_rate: a.error_rate,
        delay_ms,
        off: a.off,
    };
    ask(c, request, "chaos", ANSWER_TIMEOUT).await
}

/// Long enough for every instance to take it.
pub(super) const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        a: ChaosArgs,
    }

    /// The instance picked, or the error's text.
    fn pick(args: &[&str]) -> Result<Option<String>, String> {
        let cli = Cli::try_parse_from(std::iter::once("chaos").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        instance(&cli.a).map_err(|e| e.to_string())
    }

    #[test]
    fn an_instance_is_named_by_index_or_pod_name() {
        let s = "kyc-credit-check-advanced";
        assert_eq!(pick(&[s, "--off"]), Ok(None));
        let one = Some(format!("{s}-1"));
        assert_eq!(pick(&[s, "--instance", "1", "--off"]), Ok(one.clone()));
        assert_eq!(pick(&[s, "--pod", &format!("{s}-1"), "--off"]), Ok(one));
        for bad in [
            "kyc-credit-check-basic-1",
            "kyc-credit-check-advanced",
            "x-1",
            &format!("{s}-a"),
        ] {
            let e = pick(&[s, "--pod", bad, "--off"]).expect_err(bad);
            assert!(e.contains("--pod") && e.contains(s), "{e}");
        }
        // Both at once, or a negative index: clap refuses (exit 2).
        assert!(pick(&[s, "--instance", "1", "--pod", "x", "--off"]).is_err());
        assert!(pick(&[s, "--instance", "-1", "--off"]).is_err());
    }
}
