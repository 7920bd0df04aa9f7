//! The loop against scripted figures and a recording actuator: promotion step by step,
//! rollback at the threshold, no data, the pause gate, commands at any time.

use std::collections::VecDeque;

use super::*;
use crate::canary::analysis::Sample;

struct Scripted(VecDeque<Result<(Sample, Sample), CanaryError>>);

impl Metrics for Scripted {
    async fn mark(&mut self) -> Result<(), CanaryError> {
        Ok(())
    }
    async fn read(&mut self, _: Duration) -> Result<(Sample, Sample), CanaryError> {
        self.0.pop_front().unwrap_or_else(|| Ok(healthy()))
    }
}

#[derive(Default)]
struct Recorder(Vec<u32>);

impl Actuator for Recorder {
    async fn set_weight(&mut self, weight: u32) -> Result<(), CanaryError> {
        self.0.push(weight);
        Ok(())
    }
}

fn healthy() -> (Sample, Sample) {
    let s = Sample {
        requests: 50,
        successes: 50,
        p99_ms: Some(5.0),
    };
    (s, s)
}

fn failing() -> (Sample, Sample) {
    let (s, mut c) = healthy();
    c.successes = 35;
    (s, c)
}

fn spec() -> CanarySpec {
    CanarySpec {
        step_weight: 25,
        interval_ms: 100,
        ..CanarySpec::default()
    }
}

async fn go(
    spec: &CanarySpec,
    script: Vec<Result<(Sample, Sample), CanaryError>>,
    commands: &mut mpsc::Receiver<Command>,
) -> (CanaryStatus, Vec<u32>, Vec<Update>) {
    let mut m = Scripted(script.into());
    let mut a = Recorder::default();
    let mut updates = Vec::new();
    let st = run(spec, "basic", "advanced", &mut m, &mut a, commands, |u| {
        updates.push(u)
    })
    .await;
    (st, a.0, updates)
}

#[tokio::test]
async fn healthy_checks_step_up_to_max_weight_then_promote() {
    let (_tx, mut rx) = mpsc::channel(1);
    let (st, weights, updates) = go(&spec(), vec![], &mut rx).await;
    assert_eq!(st.phase, Phase::Promoted);
    assert_eq!(weights, [25, 50, 75, 100, 100]);
    let checks = updates
        .iter()
        .filter(|u| matches!(u, Update::Check(_)))
        .count();
    assert_eq!(checks, 4);
}

#[tokio::test]
async fn failed_checks_reach_the_threshold_and_roll_back() {
    let (_tx, mut rx) = mpsc::channel(1);
    let script = vec![Ok(healthy()), Ok(failing()), Ok(healthy()), Ok(failing())];
    let (st, weights, _) = go(&spec(), script, &mut rx).await;
    assert_eq!(st.phase, Phase::RolledBack);
    assert_eq!(st.failed_checks, 2);
    // 25, pass → 50, fail (stays), pass → 75, fail → threshold → 0.
    assert_eq!(weights, [25, 50, 75, 0]);
    assert!(st.message.contains("--threshold 2"), "{}", st.message);
    assert_eq!(st.weight, 0);
}

#[tokio::test]
async fn no_data_counts_as_a_failed_check() {
    let (_tx, mut rx) = mpsc::channel(1);
    let empty = (Sample::default(), Sample::default());
    let script = vec![
        Ok(empty),
        Err(CanaryError::Mesh("admin unreachable".into())),
    ];
    let (st, weights, _) = go(&spec(), script, &mut rx).await;
    assert_eq!(st.phase, Phase::RolledBack);
    assert_eq!(weights, [25, 0]);
    let last = st.last.expect("a check");
    assert_eq!(last.verdict, Verdict::NoData);
    assert!(last.reason.contains("admin unreachable"), "{}", last.reason);
}

#[tokio::test]
async fn pause_at_waits_for_promote_or_abort() {
    let s = CanarySpec {
        pause_at: Some(50),
        ..spec()
    };
    for (command, phase, last) in [
        (Command::Promote, Phase::Promoted, 100),
        (Command::Abort, Phase::RolledBack, 0),
    ] {
        let (tx, mut rx) = mpsc::channel(1);
        let mut m = Scripted(VecDeque::new());
        let mut a = Recorder::default();
        let mut paused_at = None;
        // The command is sent only once the loop says it is paused.
        let st = run(&s, "basic", "advanced", &mut m, &mut a, &mut rx, |u| {
            if let Update::Status(st) = u {
                if st.phase == Phase::Paused {
                    paused_at = Some(st.weight);
                    tx.try_send(command).expect("send");
                }
            }
        })
        .await;
        assert_eq!(paused_at, Some(50));
        assert_eq!(st.phase, phase);
        assert_eq!(a.0, [25, 50, last]);
    }
}

#[tokio::test]
async fn abort_at_any_time_rolls_back_at_once() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.send(Command::Abort).await.expect("send");
    let (st, weights, _) = go(&spec(), vec![], &mut rx).await;
    assert_eq!(st.phase, Phase::RolledBack);
    assert_eq!(weights, [25, 0]);
    assert!(st.last.is_none(), "no check was made");
}
