use super::*;
use crate::canary::model::{CanarySpec, CanaryStatus, Phase, Verdict, VersionFigures};
use crate::ops::ChaosSetting;

fn check(n: u32) -> Check {
    let figures = |host: &str| VersionFigures {
        host: host.into(),
        requests: 10,
        successes: 10,
        success_rate: Some(100.0),
        p99_ms: Some(5.0),
    };
    Check {
        n,
        weight: 10 * n,
        stable: figures("kyc-credit-check-basic"),
        canary: figures("kyc-credit-check-advanced"),
        verdict: Verdict::Pass,
        reason: "ok".into(),
        failed_checks: 0,
    }
}

fn phase(phase: Phase, last: Option<Check>) -> Event {
    Event::CanaryPhase(Box::new(CanaryStatus {
        phase,
        spec: CanarySpec::default(),
        stable: "kyc-credit-check-basic".into(),
        canary: "kyc-credit-check-advanced".into(),
        weight: 0,
        failed_checks: 0,
        last,
        message: "m".into(),
        traces: None,
    }))
}

#[test]
fn every_event_reads_as_a_line_and_the_log_keeps_the_newest() {
    let mut log = Log::default();
    let rejected = Event::EditRejected {
        error: "bad yaml".into(),
    };
    log.record(&rejected, 1);
    assert_eq!(log.events[0].kind, "edit-rejected");
    assert!(log.events[0].bad && log.events[0].text.contains("bad yaml"));
    log.record(
        &Event::ChaosChanged {
            service: "kyc-credit-check-advanced".into(),
            setting: Some(ChaosSetting {
                error_rate: 0.3,
                delay_ms: 0,
            }),
            instance: None,
        },
        2,
    );
    assert!(log.events[0].text.contains("30 %"), "{:?}", log.events[0]);
    // The load generator's counters are state, not events.
    log.record(&Event::Load(Default::default()), 3);
    assert_eq!(log.events.len(), 2);
    for i in 0..(KEPT + 10) {
        log.record(&rejected, i as u64);
    }
    assert_eq!(log.events.len(), KEPT);
    assert_eq!(log.events[0].at_ms, (KEPT + 9) as u64, "newest first");
}

#[test]
fn a_new_canary_run_replaces_the_last_runs_checks() {
    let mut log = Log::default();
    for n in 1..=3 {
        log.record(&Event::CanaryCheck(Box::new(check(n))), n.into());
    }
    log.record(&phase(Phase::Promoted, Some(check(3))), 4);
    assert_eq!(log.checks.len(), 3, "the ended run's checks stay");
    log.record(&phase(Phase::Progressing, None), 5);
    assert!(log.checks.is_empty(), "a new run starts empty");
}

#[test]
fn an_ejection_and_a_return_are_logged_once_each() {
    let mut log = Log::default();
    let host = "kyc-credit-check-advanced";
    log.ejections(host, "v2", 0, 0, 1);
    assert!(log.events.is_empty(), "no change: nothing logged");
    log.ejections(host, "v2", 0, 1, 2);
    log.ejections(host, "v2", 1, 0, 3);
    log.ejections(host, "", 0, 2, 4);
    let texts: Vec<(&str, bool, &str)> = log
        .events
        .iter()
        .map(|e| (e.text.as_str(), e.bad, e.kind.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (
                "kyc-credit-check-advanced: 2 instances ejected by outlier detection (2 ejected now)",
                true,
                OUTLIER_EJECTION
            ),
            (
                "kyc-credit-check-advanced v2: 1 instance back from outlier detection's ejection (0 ejected now)",
                false,
                OUTLIER_EJECTION
            ),
            (
                "kyc-credit-check-advanced v2: 1 instance ejected by outlier detection (1 ejected now)",
                true,
                OUTLIER_EJECTION
            ),
        ]
    );
}
