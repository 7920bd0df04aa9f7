//! Tests of the service metrics: labels, rendering, and the cached handles against the macros.

use super::*;

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
    m.observe_request("GET", "/x", 200, 0.002);
    let text = m.render(Format::Text);
    assert!(
        text.contains(
            r#"kyc_build_info{service="svc",version="v1",instance="pod-a",build="0.1.0"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
    assert!(text.contains(
        r#"http_server_request_duration_seconds_bucket{http_request_method="GET",http_route="/x",http_response_status_code="200",le="0.0025"} 1"#
    ), "{text}");
    assert!(!text.contains("# EOF"), "{text}");
}

#[test]
fn disabled_metrics_record_nothing_but_build_info() {
    let m = Metrics::new(&identity(), "0.1.0", false);
    m.observe_request("GET", "/x", 200, 1.0);
    let text = m.render(Format::Text);
    assert!(text.contains("kyc_build_info"));
    assert!(!text.contains(REQUEST_DURATION), "{text}");
}

/// Repeated observations reuse one series per label set; counters render with `_total` once, in
/// both formats; OpenMetrics ends with `# EOF`.
#[test]
fn cached_handles_render_one_series_per_label_set_in_both_formats() {
    let m = Metrics::new(&identity(), "0.1.0", true);
    m.describe_counter("c_total", "Reasons");
    for (route, status) in [
        ("/a/{id}", 200),
        ("/a/{id}", 200),
        ("/a/{id}", 404),
        ("unmatched", 404),
    ] {
        m.observe_request("POST", route, status, 0.002);
    }
    m.observe_request("GET", "/a/{id}", 200, 0.002);
    let code = String::from("R1");
    for code in [code.as_str(), "R2", "R1"] {
        m.increment("c_total", &[("t", "BASIC")], Some(("code", code)));
    }
    m.increment("d_total", &[("t", "BASIC"), ("o", "pass")], None);
    m.increment("d_total", &[("t", "BASIC"), ("o", "fail")], None);
    m.observe("h_seconds", &[("t", "x"), ("r", "ok")], 0.01);
    let text = m.render(Format::Text);
    for line in [
        r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="/a/{id}",http_response_status_code="200"} 2"#,
        r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/a/{id}",http_response_status_code="200"} 1"#,
        r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="unmatched",http_response_status_code="404"} 1"#,
        "# HELP c_total Reasons",
        "# TYPE c_total counter",
        r#"c_total{t="BASIC",code="R1"} 2"#,
        r#"c_total{t="BASIC",code="R2"} 1"#,
        r#"d_total{t="BASIC",o="pass"} 1"#,
        r#"d_total{t="BASIC",o="fail"} 1"#,
        r#"h_seconds_bucket{t="x",r="ok",le="0.01"} 1"#,
        r#"h_seconds_sum{t="x",r="ok"} 0.01"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    assert_eq!(text.matches("c_total{").count(), 2, "{text}");
    let open = m.render(Format::OpenMetrics);
    for line in [
        "# TYPE c counter",
        "# HELP c Reasons",
        r#"c_total{t="BASIC",code="R1"} 2"#,
        "# TYPE http_server_request_duration_seconds histogram",
        r#"kyc_build_info{service="svc",version="v1",instance="pod-a",build="0.1.0"} 1"#,
    ] {
        assert!(open.lines().any(|l| l == line), "{line} not in\n{open}");
    }
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(!open.contains("_total_total") && !text.contains("_total_total"));
}

#[test]
fn accept_headers_choose_the_format() {
    let accept = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    };
    assert_eq!(negotiate(&HeaderMap::new()), Format::Text);
    // What Prometheus 2.x/3.x sends.
    assert_eq!(
        accept("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
        Format::OpenMetrics
    );
    assert_eq!(
        accept("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        accept("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
        Format::Text
    );
    assert_eq!(accept("application/openmetrics-text;q=0"), Format::Text);
    assert_eq!(accept("application/json"), Format::Text);
    assert_eq!(accept("*/*"), Format::Text);
    assert_eq!(accept("application/openmetrics-text;q=oops"), Format::Text);
}

#[test]
fn disabled_metrics_cache_nothing() {
    let m = Metrics::new(&identity(), "0.1.0", false);
    m.observe_request("GET", "/x", 200, 1.0);
    m.increment("c_total", &[("t", "BASIC")], None);
    m.observe("h_seconds", &[], 1.0);
    let text = m.render(Format::Text);
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

/// What one recording costs through the cached handles (single thread):
/// `cargo test --release -p kyc-common --lib -- --ignored --nocapture per_op`.
#[test]
#[ignore = "a measurement, not a check"]
fn per_op_cost_of_cached_handles() {
    let cached = Metrics::new(&identity(), "0.1.0", true);
    let n = 1_000_000u32;
    let ns = |f: &mut dyn FnMut(u32)| {
        let t = Instant::now();
        (0..n).for_each(&mut *f);
        t.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let code = "WATCHLIST_HIT".to_owned();
    let gateway = [("requested_type", "report"), ("result", "ok")];
    for _ in 0..3 {
        let request = ns(&mut |i| {
            cached.observe_request("POST", "/kyc/v1/customer", 200, f64::from(i % 7) * 1e-4)
        });
        let calls = ns(&mut |_| cached.increment("calls_total", &gateway, None));
        let duration =
            ns(&mut |i| cached.observe("call_seconds", &gateway, f64::from(i % 7) * 1e-4));
        let reasons = ns(&mut |_| {
            cached.increment(
                "reasons_total",
                &[("report_type", "BASIC")],
                Some(("code", &code)),
            )
        });
        eprintln!(
            "ns per op: request histogram {request:.0}, counter {calls:.0}, histogram \
             {duration:.0}, counter with a dynamic label {reasons:.0}"
        );
    }
}

/// `/metrics` in the service's OpenAPI document: both content types of its 200, and over HTTP
/// (in process) each is served when asked for.
#[tokio::test]
async fn the_openapi_document_lists_both_formats_and_each_is_served() {
    use crate::configuration::{CommonSettings, EnvSource, Layers};
    use crate::error::CREDIT_CHECK_ERRORS;
    use crate::http::{assemble, OPENAPI_PATH};
    use crate::testing::{get, send};
    use utoipa::openapi::OpenApi;

    let layers = Layers::read(EnvSource::Map(Default::default())).expect("layers");
    let settings = CommonSettings::read(&layers, "v1").expect("settings");
    let ctx = ServiceContext::new("svc", "0.1.0", CREDIT_CHECK_ERRORS, &settings);
    let app = assemble(OpenApi::default(), OpenApiRouter::new(), ctx);
    let doc: serde_json::Value =
        serde_json::from_str(&send(&app, get(OPENAPI_PATH)).await.text()).expect("JSON");
    let content = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(content.get("text/plain").is_some(), "{content}");
    assert!(
        content.get("application/openmetrics-text").is_some(),
        "{content}"
    );
    let request = axum::http::Request::get(METRICS_PATH)
        .header(ACCEPT, "application/openmetrics-text; version=1.0.0")
        .body(axum::body::Body::empty())
        .expect("request");
    let open = send(&app, request).await;
    assert_eq!(open.header("content-type"), Some(OPENMETRICS_FORMAT));
    assert!(open.text().ends_with("# EOF\n"));
    let text = send(&app, get(METRICS_PATH)).await;
    assert_eq!(text.header("content-type"), Some(TEXT_FORMAT));
    assert!(!text.text().contains("# EOF"));
}
