//! `/metrics` of the three services after known traffic, over real HTTP on loopback: the counts match
//! what was sent (per route and status), probes and `/metrics` are not counted, the label set stays
//! bounded whatever paths a client sends, no label carries personal data, and Prometheus' own
//! `promtool check metrics` accepts every exposition (`scripts/test.sh` installs Debian's `prometheus`;
//! `PROMTOOL` names another binary).

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
    let r = client()
        .get(service.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(r.status(), 200);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    r.text().await.expect("text")
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

    for (text, who) in [(&agg, "aggregator"), (&b, "basic"), (&a, "advanced")] {
        for personal in ["Alice", "Viktor", "alice", "viktor", "firstName"] {
            assert!(!text.contains(personal), "{who}: {personal} in /metrics");
        }
        promtool_accepts(text).await;
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
