//! The analysis loop, as Flagger runs it: give the canary `stepWeight`; every `interval` check
//! it; a failed check (or no data) counts towards `threshold`, and at `threshold` the stable
//! version gets 100 % at once; a passed check adds `stepWeight` until `maxWeight`, then the
//! canary is promoted (100 %). `--pause-at` waits for promote/abort; a promote or abort command
//! is obeyed at any time.

use std::time::Duration;

use tokio::sync::mpsc;

use super::analysis::evaluate;
use super::model::{CanarySpec, CanaryStatus, Check, Phase, Verdict};
use super::{Actuator, CanaryError, Metrics};

/// Asked from outside the loop (`canary promote`, `canary abort`, Ctrl-C in the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Promote,
    Abort,
}

/// What the loop reports as it goes.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per interval: size does not matter
pub(crate) enum Update {
    Check(Check),
    Status(CanaryStatus),
}

struct Loop<'a, M, A, F> {
    spec: &'a CanarySpec,
    metrics: &'a mut M,
    actuator: &'a mut A,
    commands: &'a mut mpsc::Receiver<Command>,
    on: F,
    status: CanaryStatus,
}

/// Run the analysis of `spec` between `stable` and `canary` (destination hosts) to its end;
/// returns the final status (promoted or rolled back). A closed command channel = abort.
pub(crate) async fn run<M: Metrics, A: Actuator, F: FnMut(Update)>(
    spec: &CanarySpec,
    stable: &str,
    canary: &str,
    metrics: &mut M,
    actuator: &mut A,
    commands: &mut mpsc::Receiver<Command>,
    on: F,
) -> CanaryStatus {
    let status = CanaryStatus {
        phase: Phase::Progressing,
        spec: spec.clone(),
        stable: stable.to_string(),
        canary: canary.to_string(),
        weight: 0,
        failed_checks: 0,
        last: None,
        message: "starting".into(),
        traces: None,
    };
    let mut l = Loop {
        spec,
        metrics,
        actuator,
        commands,
        on,
        status,
    };
    l.analyse().await;
    l.status
}

impl<M: Metrics, A: Actuator, F: FnMut(Update)> Loop<'_, M, A, F> {
    fn report(&mut self) {
        (self.on)(Update::Status(self.status.clone()));
    }

    async fn step_to(&mut self, weight: u32, why: String) -> bool {
        if let Err(e) = self.actuator.set_weight(weight).await {
            self.roll_back(format!(
                "could not set the canary's weight to {weight}%: {e}"
            ))
            .await;
            return false;
        }
        self.status.weight = weight;
        self.status.message = why;
        self.report();
        true
    }

    async fn roll_back(&mut self, why: String) {
        let result = self.actuator.rollback().await;
        self.finish(Phase::RolledBack, 0, why, result).await;
    }

    async fn promote(&mut self, why: String) {
        let result = self.actuator.promote().await;
        self.finish(Phase::Promoted, 100, why, result).await;
    }

    async fn finish(&mut self, phase: Phase, weight: u32, why: String, r: Result<(), CanaryError>) {
        self.status.phase = phase;
        match r {
            Ok(()) => {
                self.status.weight = weight;
                self.status.message = why;
            }
            Err(e) => {
                self.status.message = format!("{why}; but moving the weights failed: {e}");
            }
        }
        self.report();
    }

    /// Wait `d`, unless a command comes first (then obey it: true = the run is over).
    async fn wait(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            c = self.commands.recv() => {
                self.obey(c).await;
                true
            }
        }
    }

    async fn obey(&mut self, c: Option<Command>) {
        match c {
            Some(Command::Promote) => self.promote("promoted by request".into()).await,
            Some(Command::Abort) | None => self.roll_back("aborted by request".into()).await,
        }
    }

    async fn analyse(&mut self) {
        let spec = self.spec;
        let interval = Duration::from_millis(spec.interval_ms);
        let first = spec.step_weight.min(spec.max_weight);
        if !self.step_to(first, format!("canary at {first}%")).await {
            return;
        }
        let mut n = 0;
        loop {
            // A failed mark shows up as a failed read: no data.
            let marked = self.metrics.mark().await;
            if self.wait(interval).await {
                return;
            }
            let read = match marked {
                Ok(()) => self.metrics.read(interval).await,
                Err(e) => Err(e),
            };
            n += 1;
            let (stable, canary) = read.as_ref().copied().unwrap_or_default();
            let stable = stable.figures(&self.status.stable);
            let canary = canary.figures(&self.status.canary);
            let (verdict, reason) = match read {
                Ok(_) => evaluate(spec, &stable, &canary),
                Err(e) => (Verdict::NoData, format!("no data: {e}")),
            };
            if verdict != Verdict::Pass {
                self.status.failed_checks += 1;
            }
            let check = Check {
                n,
                weight: self.status.weight,
                stable,
                canary,
                verdict,
                reason: reason.clone(),
                failed_checks: self.status.failed_checks,
            };
            self.status.last = Some(check.clone());
            (self.on)(Update::Check(check));
            let failed = self.status.failed_checks;
            if failed >= spec.threshold {
                let why = format!(
                    "rolled back: {failed} failed checks reached --threshold {}; last: {reason}",
                    spec.threshold
                );
                self.roll_back(why).await;
                return;
            }
            if verdict != Verdict::Pass {
                continue;
            }
            let weight = self.status.weight;
            if weight >= spec.max_weight {
                let why = format!("promoted: every check passed up to {weight}%");
                self.promote(why).await;
                return;
            }
            // The gate: the run ends with the answer (promote or abort).
            if spec.pause_at.is_some_and(|p| weight >= p) {
                self.status.phase = Phase::Paused;
                self.status.message = format!(
                    "paused at {weight}%: waiting for `kyc-mesh canary promote` or `kyc-mesh canary abort`"
                );
                self.report();
                let c = self.commands.recv().await;
                self.obey(c).await;
                return;
            }
            let next = (weight + spec.step_weight).min(spec.max_weight);
            if !self.step_to(next, format!("canary at {next}%")).await {
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
