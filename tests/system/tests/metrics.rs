//! `/metrics` of the three services after known traffic, over real HTTP on loopback: the counts match
//! what was sent (per route and status), probes and `/metrics` are not counted, the label set stays
//! bounded whatever paths a client sends, no label carries personal data, and Prometheus' own
//! `promtool check metrics` accepts every exposition in the Prometheus text format (`scripts/test.sh`
//! installs Debian's `prometheus`; `PROMTOOL` names another binary), and the OpenMetrics form that an
//! `Accept` like Prometheus' gets holds the same samples, ends with `# EOF` and names counters as
//! OpenMetrics does (promtool lints the classic format only; the real Prometheus, which negotiates
//! OpenMetrics, parses it in kyc-mesh's e2e `prometheus` test).

use std::process::Stdio;

use kyc_common::testing::clean_applicant;
use kyc_system_tests::*;
use rand::distr::{Alphanumeric, SampleString};
use tokio::io::AsyncWriteExt;

const DURATION_COUNT: &str = "http_server_request_duration_seconds_count";

/// The value of the one sample of `name` whose labels include every pair of `labels` (0 if none).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
        .collect();
    assert!(matching.len() <= 1, "{name} {labels:?}: {matching:?}");
    matching.first().copied().unwrap_or(0.0)
}

async fn scrape(service: &Running) -> String {
    let (content_type, text) = scrape_accepting(service, None).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    text
}

/// What Prometheus sends: OpenMetrics preferred, the text format as a fallback.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// `GET /metrics` with `accept`: the content type and the body.
async fn scrape_accepting(service: &Running, accept: Option<&str>) -> (String, String) {
    let mut request = client().get(service.url("/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let r = request.send().await.expect("GET /metrics");
    assert_eq!(r.status(), 200);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (content_type, r.text().await.expect("text"))
}

/// `name{a="1",b="2"} value` as (name, sorted label pairs, value), numbers (`le`, the value) in one
/// spelling (`1` and `1.0` are the same bucket bound). Label values here hold no `",`.
fn parse_sample(line: &str) -> (String, Vec<String>, String) {
    let number = |text: &str| {
        text.parse::<f64>()
            .map_or(text.to_owned(), |n| n.to_string())
    };
    let (series, value) = line.rsplit_once(' ').unwrap_or((line, ""));
    let (name, labels) = match series.split_once('{') {
        Some((name, labels)) => (name, labels.trim_end_matches('}')),
        None => (series, ""),
    };
    let mut labels: Vec<String> = labels
        .split("\",")
        .filter(|l| !l.is_empty())
        .map(|l| match l.trim_end_matches('"').split_once("=\"") {
            Some(("le", bound)) => format!("le={}", number(bound)),
            Some((k, v)) => format!("{k}={v}"),
            None => l.to_owned(),
        })
        .collect();
    labels.sort();
    (name.to_owned(), labels, number(value))
}

/// The OpenMetrics form of a service's metrics holds every sample of its text form (same names,
/// labels and values), names counter families without `_total` and their samples with it, and ends
/// with `# EOF`.
async fn openmetrics_matches(service: &Running, text: &str, who: &str) {
    let (content_type, open) = scrape_accepting(service, Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(
        content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "{who}"
    );
    assert!(open.ends_with("# EOF\n"), "{who}: {open}");
    assert_eq!(open.matches("# EOF").count(), 1, "{who}: {open}");
    // Nothing counted happened between the two scrapes (/metrics is not counted). The formats may
    // order a bucket's labels differently (`le` first in OpenMetrics): compared as sets.
    let samples = |text: &str| {
        let mut samples: Vec<(String, Vec<String>, String)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(parse_sample)
            .collect();
        samples.sort();
        samples
    };
    assert_eq!(
        samples(text),
        samples(&open),
        "{who}: the two forms differ\n{text}\n{open}"
    );
    for line in open
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" counter"))
    {
        let family = line.split(' ').nth(2).unwrap_or_default();
        assert!(!family.ends_with("_total"), "{who}: {line}");
        assert!(
            open.lines()
                .any(|l| l.starts_with(&format!("{family}_total"))),
            "{who}: {family} has no _total sample"
        );
    }
    for personal in ["Alice", "Viktor", "alice", "viktor", "firstName"] {
        assert!(!open.contains(personal), "{who}: {personal} in OpenMetrics");
    }
}

/// `promtool check metrics` reads the exposition with Prometheus' parser and lints it.
async fn promtool_accepts(text: &str) {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    let mut child = tokio::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `{promtool}` ({e}): install Debian's prometheus (scripts/test.sh does) or set PROMTOOL")
        });
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).await.expect("write");
    drop(stdin);
    let out = child.wait_with_output().await.expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn counts_match_the_traffic_sent_and_probes_are_not_counted() {
    let basic = spawn_basic(&[("KYC_INSTANCE", "basic-1")]).await;
    let advanced = spawn_advanced(&[("KYC_INSTANCE", "advanced-1")]).await;
    let gateway = spawn_gateway(basic.addr, advanced.addr).await;
    let aggregator = spawn_aggregator(&gateway.url(), &[("KYC_INSTANCE", "agg-1")]).await;
    let http = client();
    let send = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    for _ in 0..3 {
        assert_eq!(
            send(aggregator.url("/kyc/v1/customer?type=basicReport&demo=alice")).await,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            send(aggregator.url("/kyc/v1/customer?type=advancedReport&demo=viktor")).await,
            200
        );
        assert_eq!(
            send(aggregator.url("/kyc/v1/customer?type=nope")).await,
            400
        );
        assert_eq!(send(aggregator.url("/no/such/path")).await, 404);
    }
    let mut applicant = clean_applicant();
    applicant["firstName"] = serde_json::json!("");
    let refused = http
        .post(basic.url("/credit-check/basic"))
        .json(&applicant)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 422);
    for path in ["/healthz", "/readyz", "/version", "/metrics"] {
        for service in [&aggregator, &basic] {
            assert_eq!(send(service.url(path)).await, 200, "{path}");
        }
    }

    let agg = scrape(&aggregator).await;
    let route = ("http_route", "/kyc/v1/customer");
    let get = ("http_request_method", "GET");
    assert_eq!(
        sample(
            &agg,
            DURATION_COUNT,
            &[route, get, ("http_response_status_code", "200")]
        ),
        5.0,
        "{agg}"
    );
    assert_eq!(
        sample(
            &agg,
            DURATION_COUNT,
            &[route, get, ("http_response_status_code", "400")]
        ),
        2.0
    );
    assert_eq!(
        sample(
            &agg,
            DURATION_COUNT,
            &[
                ("http_route", "unmatched"),
                ("http_response_status_code", "404")
            ]
        ),
        2.0
    );
    for probe in ["/healthz", "/readyz", "/version", "/metrics"] {
        assert!(
            !agg.contains(&format!("http_route=\"{probe}\"")),
            "{probe} counted:\n{agg}"
        );
    }
    assert_eq!(
        sample(
            &agg,
            "kyc_gateway_calls_total",
            &[("requested_type", "basicReport"), ("result", "ok")]
        ),
        3.0
    );
    assert_eq!(
        sample(
            &agg,
            "kyc_gateway_call_duration_seconds_count",
            &[("requested_type", "advancedReport"), ("result", "ok")]
        ),
        2.0
    );
    assert_eq!(
        sample(
            &agg,
            "kyc_build_info",
            &[
                ("service", "kyc-aggregator-mgt"),
                ("version", "v1"),
                ("instance", "agg-1")
            ]
        ),
        1.0
    );

    let b = scrape(&basic).await;
    assert_eq!(
        sample(
            &b,
            DURATION_COUNT,
            &[
                ("http_route", "/credit-check/basic"),
                ("http_request_method", "POST"),
                ("http_response_status_code", "200")
            ]
        ),
        3.0,
        "{b}"
    );
    assert_eq!(
        sample(
            &b,
            DURATION_COUNT,
            &[
                ("http_route", "/credit-check/basic"),
                ("http_response_status_code", "422")
            ]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &b,
            "kyc_reports_total",
            &[("report_type", "BASIC"), ("outcome", "pass")]
        ),
        3.0
    );
    let a = scrape(&advanced).await;
    assert_eq!(
        sample(
            &a,
            "kyc_reports_total",
            &[("report_type", "ADVANCED"), ("outcome", "fail")]
        ),
        2.0,
        "{a}"
    );
    assert!(
        sample(
            &a,
            "kyc_report_reasons_total",
            &[("report_type", "ADVANCED")]
        ) >= 0.0
    );

    for (service, text, who) in [
        (&aggregator, &agg, "aggregator"),
        (&basic, &b, "basic"),
        (&advanced, &a, "advanced"),
    ] {
        for personal in ["Alice", "Viktor", "alice", "viktor", "firstName"] {
            assert!(!text.contains(personal), "{who}: {personal} in /metrics");
        }
        promtool_accepts(text).await;
        openmetrics_matches(service, text, who).await;
    }
}

#[tokio::test]
async fn label_cardinality_stays_bounded_after_random_paths_and_methods() {
    let basic = spawn_basic(&[]).await;
    let http = client();
    let before = scrape(&basic).await.lines().count();
    for i in 0..1_000 {
        let path = Alphanumeric.sample_string(&mut rand::rng(), 12);
        let method = if i % 2 == 0 { "GET" } else { "BREW" };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let status = http
            .request(method, basic.url(&format!("/{path}/{i}")))
            .send()
            .await
            .expect("request")
            .status();
        assert!(status.is_client_error(), "{status}");
    }
    let after = scrape(&basic).await;
    let unmatched: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with(DURATION_COUNT))
        .collect();
    assert_eq!(
        unmatched.len(),
        2,
        "one series per method label: {unmatched:?}"
    );
    assert!(after.contains(r#"http_request_method="_OTHER""#), "{after}");
    let counted: f64 = ["GET", "_OTHER"]
        .iter()
        .map(|m| {
            sample(
                &after,
                DURATION_COUNT,
                &[("http_route", "unmatched"), ("http_request_method", m)],
            )
        })
        .sum();
    assert_eq!(counted, 1_000.0, "{after}");
    assert!(
        after.lines().count() < before + 2 * 20,
        "{} lines after, {before} before",
        after.lines().count()
    );
}
