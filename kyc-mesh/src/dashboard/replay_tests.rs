use std::io::Write;

use super::*;
use crate::dashboard::recording::{create, Meta, FORMAT};

fn meta() -> Meta {
    Meta {
        format: FORMAT,
        kyc_mesh: "test".into(),
        started_ms: 1_000,
        networking: "networking".into(),
        entry: "kyc-aggregator-mgt".into(),
        versions: Default::default(),
    }
}

fn event(at_ms: u64, text: &str) -> Line {
    Line::Event {
        event: EventView {
            at_ms,
            kind: "chaos-changed".into(),
            text: text.into(),
            bad: false,
        },
    }
}

#[test]
fn a_recording_replays_at_any_time_and_a_torn_last_line_is_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    let rec = dir.path().join("rec");
    {
        let mut w = create(&rec, &meta()).expect("create");
        for (at, rps) in [(2_000, 1), (3_000, 2), (4_000, 3)] {
            let view = serde_json::json!({"updatedMs": at, "load": {"rps": rps}, "events": [], "checks": []});
            w.session
                .append(&Line::State { at_ms: at, view })
                .expect("state");
        }
        w.session.append(&event(2_500, "first")).expect("event");
        w.session.append(&event(3_500, "second")).expect("event");
        w.session.sync().expect("sync");
    }
    // A killed `up` mid-line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(rec.join(recording::SESSION))
        .expect("open");
    f.write_all(br#"{"type":"state","atMs":5000,"view":{"upd"#)
        .expect("torn");
    drop(f);
    let r = Recording::read(&rec).expect("readable after a crash");
    assert_eq!(r.skipped, 1);
    assert_eq!(r.end_ms, 4_000);
    let at = |t| r.state_at(t).expect("a state");
    assert_eq!(at(3_200)["load"]["rps"], 2);
    assert_eq!(at(500)["load"]["rps"], 1, "before the first: the first");
    assert_eq!(at(9_000)["load"]["rps"], 3);
    let texts = |v: serde_json::Value| -> Vec<String> {
        v["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["text"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(texts(at(3_000)), ["first"]);
    assert_eq!(texts(at(4_000)), ["second", "first"], "newest first");
}

#[test]
fn a_directory_that_holds_something_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let rec = dir.path().join("rec");
    drop(create(&rec, &meta()).expect("first"));
    let again = create(&rec, &meta()).err().expect("refused");
    assert!(
        again.to_string().contains("already holds a recording"),
        "{again}"
    );
    std::fs::write(dir.path().join("other.txt"), "x").expect("file");
    let busy = create(dir.path(), &meta()).err().expect("refused");
    assert!(busy.to_string().contains("not empty"), "{busy}");
    let missing = Recording::read(&dir.path().join("nothing"))
        .err()
        .expect("no meta");
    assert!(missing.to_string().contains("meta.json"), "{missing}");
}
