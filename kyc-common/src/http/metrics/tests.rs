//! Tests of the service metrics: labels, rendering, and the cached handles against the macros.

use super::*;
use metrics::{counter, histogram};

fn identity() -> ServedBy {
    ServedBy {
        service: "svc".into(),
        version: "v1".into(),
        instance: "pod-a".into(),
    }
}

#[test]
fn build_info_and_histogram_render_in_the_text_format() {
    let m = Metrics::new(&identity(), "0.1.0", true);
    m.record(|| {
        histogram!(REQUEST_DURATION, "http_route" => "/x").record(0.002);
    });
    let text = m.render();
    assert!(
        text.contains(
            r#"kyc_build_info{service="svc",version="v1",instance="pod-a",build="0.1.0"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
    assert!(text
        .contains(r#"http_server_request_duration_seconds_bucket{http_route="/x",le="0.0025"} 1"#));
}

#[test]
fn disabled_metrics_record_nothing_but_build_info() {
    let m = Metrics::new(&identity(), "0.1.0", false);
    m.record(|| histogram!(REQUEST_DURATION).record(1.0));
    let text = m.render();
    assert!(text.contains("kyc_build_info"));
    assert!(!text.contains(REQUEST_DURATION), "{text}");
}

/// The cached handles render exactly what the `metrics` macros would (names, label order, values).
#[test]
fn cached_handles_render_as_the_macros_do() {
    let cached = Metrics::new(&identity(), "0.1.0", true);
    let macros = Metrics::new(&identity(), "0.1.0", true);
    for (route, status) in [
        ("/a/{id}", 200),
        ("/a/{id}", 200),
        ("/a/{id}", 404),
        ("unmatched", 404),
    ] {
        cached.observe_request("POST", route, status, 0.002);
        macros.record(|| {
            histogram!(REQUEST_DURATION,
                "http_request_method" => "POST",
                "http_route" => route,
                "http_response_status_code" => status.to_string())
            .record(0.002);
        });
    }
    cached.observe_request("GET", "/a/{id}", 200, 0.002);
    macros.record(|| {
        histogram!(REQUEST_DURATION,
            "http_request_method" => "GET",
            "http_route" => "/a/{id}",
            "http_response_status_code" => "200")
        .record(0.002);
    });
    for code in ["R1", "R2", "R1"] {
        cached.increment("c_total", &[("t", "BASIC")], Some(("code", code)));
        macros.record(|| counter!("c_total", "t" => "BASIC", "code" => code).increment(1));
    }
    cached.increment("d_total", &[("t", "BASIC"), ("o", "pass")], None);
    cached.increment("d_total", &[("t", "BASIC"), ("o", "fail")], None);
    cached.observe("h_seconds", &[("t", "x"), ("r", "ok")], 0.01);
    macros.record(|| {
        counter!("d_total", "t" => "BASIC", "o" => "pass").increment(1);
        counter!("d_total", "t" => "BASIC", "o" => "fail").increment(1);
        histogram!("h_seconds", "t" => "x", "r" => "ok").record(0.01);
    });
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let text = cached.render();
    assert!(text.contains(
        r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="/a/{id}",http_response_status_code="200"} 2"#
    ), "{text}");
    assert!(text.contains(r#"c_total{t="BASIC",code="R1"} 2"#), "{text}");
    assert_eq!(sorted(text), sorted(macros.render()));
}

#[test]
fn disabled_metrics_cache_nothing() {
    let m = Metrics::new(&identity(), "0.1.0", false);
    m.observe_request("GET", "/x", 200, 1.0);
    m.increment("c_total", &[("t", "BASIC")], None);
    m.observe("h_seconds", &[], 1.0);
    let text = m.render();
    assert!(!text.contains(REQUEST_DURATION), "{text}");
    assert!(
        !text.contains("c_total") && !text.contains("h_seconds"),
        "{text}"
    );
}

#[test]
fn unknown_methods_share_one_label() {
    let odd = Method::from_bytes(b"BREW").expect("a method");
    assert_eq!(method_label(&odd), "_OTHER");
    assert_eq!(method_label(&Method::POST), "POST");
}

/// What one recording costs, cached handles vs the `metrics` macros through the local recorder
/// (single thread): `cargo test --release -p kyc-common --lib -- --ignored --nocapture per_op`.
#[test]
#[ignore = "a measurement, not a check"]
fn per_op_cost_cached_vs_macros() {
    let cached = Metrics::new(&identity(), "0.1.0", true);
    let macros = Metrics::new(&identity(), "0.1.0", true);
    let n = 1_000_000u32;
    let ns = |f: &mut dyn FnMut(u32)| {
        let t = Instant::now();
        (0..n).for_each(&mut *f);
        t.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let code = "WATCHLIST_HIT".to_owned();
    let gateway = [("requested_type", "report"), ("result", "ok")];
    for _ in 0..3 {
        let request = (
            ns(&mut |i| {
                let (route, status) = ("/kyc/v1/customer".to_owned(), 200u16.to_string());
                macros.record(|| {
                    histogram!(REQUEST_DURATION, "http_request_method" => "POST",
                        "http_route" => route, "http_response_status_code" => status)
                    .record(f64::from(i % 7) * 1e-4);
                });
            }),
            ns(&mut |i| {
                cached.observe_request("POST", "/kyc/v1/customer", 200, f64::from(i % 7) * 1e-4)
            }),
        );
        let calls = (
            ns(&mut |_| {
                macros.record(|| {
                    counter!("calls_total", "requested_type" => "report", "result" => "ok")
                        .increment(1);
                })
            }),
            ns(&mut |_| cached.increment("calls_total", &gateway, None)),
        );
        let duration = (
            ns(&mut |i| {
                macros.record(|| {
                    histogram!("call_seconds", "requested_type" => "report", "result" => "ok")
                        .record(f64::from(i % 7) * 1e-4);
                })
            }),
            ns(&mut |i| cached.observe("call_seconds", &gateway, f64::from(i % 7) * 1e-4)),
        );
        let reasons = (
            ns(&mut |_| {
                macros.record(|| {
                    counter!("reasons_total", "report_type" => "BASIC", "code" => code.clone())
                        .increment(1);
                })
            }),
            ns(&mut |_| {
                cached.increment(
                    "reasons_total",
                    &[("report_type", "BASIC")],
                    Some(("code", &code)),
                )
            }),
        );
        eprintln!(
            "ns per op, macros -> cached: request histogram {:.0} -> {:.0}, counter {:.0} -> {:.0}, \
             histogram {:.0} -> {:.0}, counter with a dynamic label {:.0} -> {:.0}",
            request.0, request.1, calls.0, calls.1, duration.0, duration.1, reasons.0, reasons.1
        );
    }
}
