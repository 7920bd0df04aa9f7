//! The dashboard's event log: every event of `up`'s bus (the `subscribe` stream) with the time
//! it arrived and one line for people, the newest [`KEPT`] kept; and the canary's checks of the
//! current run. The load generator's once-a-second counters are not logged (they are shown as
//! state).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};

use crate::canary::model::Check;
use crate::ops::MeshEvent as Event;

/// How many events the page shows.
pub(super) const KEPT: usize = 50;
/// How many canary checks are kept (a run longer than this shows its latest ones).
const CHECKS_KEPT: usize = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventView {
    pub(crate) at_ms: u64,
    /// The event's tag (`config-applied`, `edit-rejected`, …).
    pub(crate) kind: String,
    pub(crate) text: String,
    /// A refusal, a failure or an exit: shown in red.
    pub(crate) bad: bool,
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The line a person reads for `event` (`None`: not logged).
pub(super) fn describe(event: &Event) -> Option<(String, bool)> {
    Some(match event {
        Event::ConfigApplied { routes } => {
            let shown: Vec<String> = routes
                .iter()
                .map(|r| {
                    let w: Vec<String> = r
                        .destinations
                        .iter()
                        .map(|d| format!("{} {}", d.host, d.weight))
                        .collect();
                    format!("{}: {}", r.route, w.join(", "))
                })
                .collect();
            (
                format!("configuration applied ({})", shown.join("; ")),
                false,
            )
        }
        Event::EditRejected { error } => (format!("edit rejected: {error}"), true),
        Event::ScenarioSwitched { scenario } => (
            format!(
                "scenario switched to {}",
                scenario
                    .as_ref()
                    .map_or("none (networking/ only)".into(), |p| p
                        .display()
                        .to_string())
            ),
            false,
        ),
        Event::ServiceExited { service, status } => (format!("{service} exited ({status})"), true),
        Event::ServiceRestarted { service, pid, port } => (
            format!("{service} ready again (pid {pid}, port {port})"),
            false,
        ),
        Event::ChaosChanged {
            service,
            setting,
            instance,
        } => {
            let service = instance.as_ref().unwrap_or(service);
            match setting {
                Some(s) => (
                    format!(
                        "chaos on {service}: error rate {:.0} %, delay {} ms",
                        s.error_rate * 100.0,
                        s.delay_ms
                    ),
                    false,
                ),
                None => (format!("chaos off on {service}"), false),
            }
        }
        Event::WeightsOverridden { route, weights } => match weights {
            Some(w) => (format!("weights of {route}: {w}"), false),
            None => (format!("weights of {route}: back to the files'"), false),
        },
        Event::CanaryCheck(check) => (
            format!(
                "canary check {} at weight {}: {:?} ({}); failed checks {}",
                check.n, check.weight, check.verdict, check.reason, check.failed_checks
            ),
            check.verdict != crate::canary::model::Verdict::Pass,
        ),
        Event::CanaryPhase(status) => (
            format!(
                "canary {:?} at weight {}: {}",
                status.phase, status.weight, status.message
            ),
            status.phase == crate::canary::model::Phase::RolledBack,
        ),
        Event::Load(_) => return None,
    })
}

/// The event kind of an ejection or a return.
pub(super) const OUTLIER_EJECTION: &str = "outlier-ejection";

/// The line for outlier detection ejecting (`after > before`: shown in red) or letting back
/// (`after < before`) instances of `host`.
pub(super) fn ejection_event(
    host: &str,
    version: &str,
    before: u64,
    after: u64,
    at_ms: u64,
) -> Option<EventView> {
    let plural = |n: u64| if n == 1 { "instance" } else { "instances" };
    let who = if version.is_empty() {
        host.to_string()
    } else {
        format!("{host} {version}")
    };
    let (text, bad) = match after.cmp(&before) {
        std::cmp::Ordering::Equal => return None,
        std::cmp::Ordering::Greater => {
            let n = after - before;
            (
                format!(
                    "{who}: {n} {} ejected by outlier detection ({after} ejected now)",
                    plural(n)
                ),
                true,
            )
        }
        std::cmp::Ordering::Less => {
            let n = before - after;
            (
                format!(
                    "{who}: {n} {} back from outlier detection's ejection ({after} ejected now)",
                    plural(n)
                ),
                false,
            )
        }
    };
    Some(EventView {
        at_ms,
        kind: OUTLIER_EJECTION.into(),
        text,
        bad,
    })
}

/// The log the collector reads; filled by [`follow`].
#[derive(Debug, Default)]
pub(super) struct Log {
    pub(crate) events: VecDeque<EventView>,
    pub(crate) checks: VecDeque<Check>,
}

impl Log {
    pub(super) fn record(&mut self, event: &Event, at_ms: u64) {
        match event {
            Event::CanaryPhase(status) if status.last.is_none() && !status.phase.is_final() => {
                // A new run starts: its checks replace the last run's.
                self.checks.clear();
            }
            Event::CanaryCheck(check) => {
                self.checks.push_back((**check).clone());
                if self.checks.len() > CHECKS_KEPT {
                    self.checks.pop_front();
                }
            }
            _ => {}
        }
        let Some((text, bad)) = describe(event) else {
            return;
        };
        self.events.push_front(EventView {
            at_ms,
            kind: event.kind().to_string(),
            text,
            bad,
        });
        self.events.truncate(KEPT);
    }

    /// Log a change of the instances of `host` (version `version`) the gateway's outlier
    /// detection ejects, `before` → `after` (nothing when equal). Not an event of `up`'s bus:
    /// the collector sees it in Envoy's `outlier_detection.ejections_active` gauge.
    pub(super) fn ejections(
        &mut self,
        host: &str,
        version: &str,
        before: u64,
        after: u64,
        at_ms: u64,
    ) {
        if let Some(view) = ejection_event(host, version, before, after, at_ms) {
            self.events.push_front(view);
            self.events.truncate(KEPT);
        }
    }

    fn note(&mut self, text: String) {
        self.events.push_front(EventView {
            at_ms: now_ms(),
            kind: "dashboard".into(),
            text,
            bad: true,
        });
        self.events.truncate(KEPT);
    }
}

/// Record every event of `bus` into `log` and wake the collector (`changed`) so the page sees
/// it at once. Runs until the bus closes.
pub(super) async fn follow(
    bus: broadcast::Sender<Event>,
    log: Arc<Mutex<Log>>,
    changed: Arc<Notify>,
) {
    let mut rx = bus.subscribe();
    drop(bus);
    loop {
        let recorded = match rx.recv().await {
            Ok(event) => {
                let logged = describe(&event).is_some();
                if let Ok(mut l) = log.lock() {
                    l.record(&event, now_ms());
                }
                logged
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                if let Ok(mut l) = log.lock() {
                    l.note(format!("{n} events were missed (too many at once)"));
                }
                true
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if recorded {
            changed.notify_one();
        }
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
