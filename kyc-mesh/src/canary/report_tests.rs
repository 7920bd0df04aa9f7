use super::*;
use crate::canary::model::{TraceLinks, VersionFigures};

fn figures(host: &str, requests: u64, rate: Option<f64>, p99: Option<f64>) -> VersionFigures {
    VersionFigures {
        host: host.into(),
        requests,
        successes: rate.map_or(0, |r| (requests as f64 * r / 100.0) as u64),
        success_rate: rate,
        p99_ms: p99,
    }
}

const STABLE_HOST: &str = "kyc-credit-check-basic";
const CANARY_HOST: &str = "kyc-credit-check-advanced";

/// A run rolled back at its second failed check: 10 % passed, then two failures at 20 %.
pub(crate) fn rolled_back() -> Report {
    let spec = CanarySpec {
        step_weight: 10,
        interval_ms: 2_000,
        threshold: 2,
        ..CanarySpec::default()
    };
    let check =
        |n: u32, weight: u32, rate: f64, verdict: Verdict, reason: &str, failed: u32| Check {
            n,
            weight,
            stable: figures(STABLE_HOST, 40, Some(100.0), Some(4.0)),
            canary: figures(CANARY_HOST, 10, Some(rate), Some(9.0)),
            verdict,
            reason: reason.into(),
            failed_checks: failed,
        };
    let checks = vec![
        check(1, 10, 100.0, Verdict::Pass, "success rate 100.0% >= 99%", 0),
        check(
            2,
            20,
            60.0,
            Verdict::Fail,
            "success rate 60.0% < 99% <script>",
            1,
        ),
        check(3, 20, 50.0, Verdict::Fail, "success rate 50.0% < 99%", 2),
    ];
    let link = |id: char, error: bool| TraceLink {
        trace_id: id.to_string().repeat(32),
        host: CANARY_HOST.into(),
        duration_ms: 12.5,
        start_ms: 1_700_000_000_000,
        error,
    };
    let outcome = CanaryStatus {
        phase: Phase::RolledBack,
        spec: spec.clone(),
        stable: STABLE_HOST.into(),
        canary: CANARY_HOST.into(),
        weight: 0,
        failed_checks: 2,
        last: checks.last().cloned(),
        message:
            "rolled back: 2 failed checks reached --threshold 2; last: success rate 50.0% < 99%"
                .into(),
        traces: Some(TraceLinks {
            failing: vec![link('a', true)],
            slowest: vec![link('b', false)],
            open_at: Some("http://localhost:9000/#trace=".into()),
        }),
    };
    Report {
        spec,
        checks,
        outcome,
        load: Some(LoadStatus {
            rps: 0,
            sent: 120,
            ok: 100,
            failed: 20,
            injected: 20,
        }),
        yaml: Some(Yaml {
            file: Some("networking/kyc-credit-check-istio-routing.yaml".into()),
            text: "route:\n  - destination: {host: kyc-credit-check-basic}\n    weight: 100\n"
                .into(),
        }),
        generated_ms: 1_700_000_100_000,
    }
}

#[test]
fn the_html_report_is_self_contained_with_its_charts_verdicts_traces_and_yaml() {
    let html = html(&rolled_back());
    assert!(html.starts_with("<!doctype html>"));
    assert!(!html.contains("<script"), "no script, escaped reasons");
    assert!(html.contains("&lt;script&gt;"));
    assert!(
        !html.contains("src=") && !html.contains("<link"),
        "nothing loaded"
    );
    assert!(html.contains("default-src 'none'"));
    for id in ["weight", "success", "p99"] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "chart {id}");
    }
    assert!(
        html.contains("data-threshold=\"99\""),
        "the success threshold is drawn"
    );
    assert!(
        html.contains("data-threshold=\"500\""),
        "the p99 threshold is drawn"
    );
    assert_eq!(html.matches("data-verdict=\"FAIL\"").count(), 2);
    assert!(html.contains("id=\"outcome\">rolled back<"));
    assert!(html.contains("kyc-credit-check-basic takes 100% of the traffic"));
    assert!(html.contains("2 failed checks reached --threshold 2"));
    assert!(html.contains(&format!(
        "href=\"http://localhost:9000/#trace={}\"",
        "a".repeat(32)
    )));
    assert!(html.contains("networking/kyc-credit-check-istio-routing.yaml"));
    assert!(html.contains("weight: 100"));
    assert!(html.contains("120 requests sent"));
    assert!(html.contains("2023-11-14 22:15:00 UTC"));
}

#[test]
fn the_json_report_keeps_the_fields_of_report_and_adds_the_yaml() {
    let r = rolled_back();
    let v = serde_json::to_value(&r).expect("json");
    for key in ["spec", "checks", "outcome", "load", "yaml", "generatedMs"] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }
    assert_eq!(v["outcome"]["phase"], "rolled-back");
    assert_eq!(
        v["outcome"]["traces"]["failing"][0]["traceId"],
        "a".repeat(32)
    );
    let back: Report = serde_json::from_value(v).expect("reads back");
    assert_eq!(back, r);
}

#[test]
fn a_run_without_checks_or_traces_still_renders() {
    let mut r = rolled_back();
    r.checks.clear();
    r.outcome.traces = None;
    r.outcome.phase = Phase::Progressing;
    r.outcome.weight = 10;
    r.load = None;
    r.yaml = None;
    let html = html(&r);
    assert!(html.contains("no check was made"));
    assert!(html.contains("No trace links"));
    assert!(html.contains("takes 90% of the traffic"));
}
