//! The real binaries as child processes: logs never carry personal data (nor a token), the audit
//! trail has one line per KYC report request, SIGTERM drains and exits 0, a bad configuration value
//! stops start-up with a message naming the variable.

use axum::http::StatusCode;
use kyc_common::testing::{clean_applicant, eventually};
use kyc_system_tests::*;
use serde_json::{json, Value};

/// Values that identify the applicants sent below; none may appear in any log line.
const PERSONAL: [&str; 12] = [
    "Zebulon",
    "Quixotic",
    "PIIPASS123",
    "1977-07-07",
    "987654321",
    "Petra",
    "Lindqvist",
    "SE1029384",
    "1988-03-14",
    "Alice",
    "Martin",
    "FR1234567",
];

/// A token-like value sent to the aggregator: never logged either.
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl";

fn zebulon() -> Value {
    let mut a = clean_applicant();
    a["firstName"] = "Zebulon".into();
    a["lastName"] = "Quixotic".into();
    a["passportNumber"] = "PIIPASS123".into();
    a["dateOfBirth"] = "1977-07-07".into();
    a
}

#[tokio::test]
async fn no_personal_data_reaches_any_log_line_at_any_level() {
    let trace = [("KYC_LOG_LEVEL", "trace")];
    let basic = Child::start("kyc-credit-check-basic", &trace).await;
    let advanced = Child::start("kyc-credit-check-advanced", &trace).await;
    let gateway = spawn_gateway(basic.addr, advanced.addr).await;
    let gateway_url = gateway.url();
    let aggregator = Child::start(
        "kyc-aggregator-mgt",
        &[
            ("KYC_LOG_LEVEL", "trace"),
            ("KYC_GATEWAY_URL", gateway_url.as_str()),
        ],
    )
    .await;
    let http = client();

    // Successful scoring, by every route and method; the POSTs as the jwt-auth scenario's
    // sidecar forwards them (the verified subject and issuer; a token the app must not log).
    for t in ["basicReport", "advancedReport", "report"] {
        let r = http
            .post(aggregator.url(&format!("/kyc/v1/customer?type={t}")))
            .header("x-kyc-subject", "auditor-7")
            .header("x-kyc-issuer", "kyc-demo@banknext.example")
            .header("authorization", format!("Bearer {TOKEN}"))
            .json(&zebulon())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::OK);
        let r = http
            .get(aggregator.url(&format!("/kyc/v1/customer?type={t}&demo=alice")))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::OK);
    }
    for (child, path) in [
        (&basic, "/credit-check/basic"),
        (&advanced, "/credit-check/advanced"),
    ] {
        let r = http
            .post(child.url(path))
            .json(&clean_applicant())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Error paths: invalid fields, wrong types (the parser's message quotes the value), bad JSON.
    let mut invalid = zebulon();
    invalid["passportNumber"] = "PIIPASS123-!".into();
    let mut wrong_type = zebulon();
    wrong_type["passportNumber"] = json!(987654321);
    for body in [invalid, wrong_type] {
        for url in [
            aggregator.url("/kyc/v1/customer"),
            basic.url("/credit-check/report"),
        ] {
            let r = http.post(&url).json(&body).send().await.expect("post");
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
    let r = http
        .post(aggregator.url("/kyc/v1/customer"))
        .header("content-type", "application/json")
        .body(r#"{"firstName":"Zebulon","lastName":"Quixotic""#)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A scorer that fails: the aggregator logs the 502 it answers.
    basic.sigterm();
    let (code, basic_log) = basic.wait().await;
    assert_eq!(code, Some(0), "basic exits 0 on SIGTERM");
    let r = http
        .post(aggregator.url("/kyc/v1/customer?type=basicReport"))
        .json(&zebulon())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);

    // Probes and scrapes (every few seconds each): see their lines' level below.
    for path in ["/metrics", "/readyz", "/healthz"] {
        let r = http.get(aggregator.url(path)).send().await.expect(path);
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }

    aggregator.sigterm();
    advanced.sigterm();
    let (code, aggregator_log) = aggregator.wait().await;
    assert_eq!(code, Some(0), "aggregator exits 0 on SIGTERM");
    let (code, advanced_log) = advanced.wait().await;
    assert_eq!(code, Some(0), "advanced exits 0 on SIGTERM");

    let all: Vec<&String> = basic_log
        .iter()
        .chain(&aggregator_log)
        .chain(&advanced_log)
        .collect();
    for line in &all {
        assert!(!line.contains(TOKEN), "the token in a log line: {line}");
        for value in PERSONAL {
            assert!(
                !line.contains(value),
                "personal data `{value}` in a log line: {line}"
            );
        }
    }
    // The logs were captured and are the documented one-line-per-request JSON.
    let requests: Vec<Value> = all
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request")
        .collect();
    assert!(
        requests.len() >= 15,
        "request lines captured: {}",
        requests.len()
    );
    // Request lines log at debug, probes and scrapes included (here, at trace, they are there:
    // at info they are not); what a KYC request did is the audit line's, at info (below).
    for quiet in ["/metrics", "/readyz", "/healthz", "/kyc/v1/customer"] {
        let lines: Vec<&Value> = requests.iter().filter(|l| l["route"] == quiet).collect();
        assert!(!lines.is_empty(), "no request line for {quiet}");
        for l in lines {
            assert_eq!(l["level"], "DEBUG", "{quiet} logged above debug: {l}");
        }
    }
    let line = requests
        .iter()
        .find(|l| l["route"] == "/kyc/v1/customer" && l["status"] == 200)
        .expect("a request line for the customer route");
    for field in [
        "method",
        "route",
        "status",
        "latency_ms",
        "request_id",
        "served_by",
        "scored_by",
    ] {
        assert!(
            !line[field].is_null(),
            "request lines carry {field}: {line}"
        );
    }
    assert!(
        aggregator_log.iter().any(|l| l.contains("\"status\":502")),
        "the 502 was logged"
    );
    // The audit trail: one line per request to the KYC API (6 scored, 2 invalid, 1 bad JSON,
    // 1 answered 502), who asked and what came of it.
    let audit: Vec<Value> = aggregator_log
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["audit"] == "kyc-report")
        .collect();
    assert_eq!(audit.len(), 10, "{audit:#?}");
    assert!(audit.iter().all(|l| l["level"] == "INFO"), "{audit:#?}");
    let outcomes = |o: &str| audit.iter().filter(|l| l["outcome"] == o).count();
    assert_eq!(
        (outcomes("served"), outcomes("rejected"), outcomes("failed")),
        (6, 3, 1)
    );
    let verified: Vec<&Value> = audit
        .iter()
        .filter(|l| l["identity"] == "verified")
        .collect();
    assert_eq!(verified.len(), 3, "{audit:#?}");
    for l in &verified {
        assert_eq!(l["subject"], "auditor-7");
        assert_eq!(l["method"], "POST");
        assert!(
            l["served_by"]
                .as_str()
                .is_some_and(|s| s.starts_with("kyc-credit-check-")),
            "{l}"
        );
    }
    for field in [
        "subject",
        "issuer",
        "identity",
        "request_id",
        "method",
        "report_type",
        "outcome",
        "status",
        "served_by",
    ] {
        assert!(
            audit.iter().all(|l| !l[field].is_null()),
            "audit lines carry {field}"
        );
    }
    assert!(audit
        .iter()
        .any(|l| l["identity"] == "anonymous" && l["subject"] == "anonymous"));
}

#[tokio::test]
async fn sigterm_turns_readiness_off_then_exits_zero() {
    let basic = Child::start("kyc-credit-check-basic", &[("KYC_DRAIN_MS", "1500")]).await;
    basic.sigterm();
    let ready = basic.url("/readyz");
    eventually("readiness 503 during the drain", WAIT, || async {
        let r = client().get(&ready).send().await.ok()?;
        (r.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(())
    })
    .await;
    let r = client()
        .get(basic.url("/credit-check/basic?demo=alice"))
        .send()
        .await
        .expect("served while draining");
    assert_eq!(r.status(), StatusCode::OK);
    let (code, log) = basic.wait().await;
    assert_eq!(code, Some(0));
    assert!(log.iter().any(|l| l.contains("readiness is now 503")));
}

#[test]
fn a_bad_configuration_value_stops_start_up_naming_the_variable() {
    for (binary_name, var, value) in [
        ("kyc-aggregator-mgt", "KYC_PORT", "eighty"),
        (
            "kyc-aggregator-mgt",
            "KYC_GATEWAY_URL",
            "istio-ingressgateway",
        ),
        ("kyc-aggregator-mgt", "KYC_OUTBOUND_TIMEOUT_MS", "3s"),
        ("kyc-credit-check-basic", "KYC_CHAOS_ERROR_RATE", "1.5"),
        ("kyc-credit-check-advanced", "KYC_LOG_FORMAT", "xml"),
        ("kyc-credit-check-advanced", "KYC_DRAIN_MS", "-1"),
    ] {
        let output = std::process::Command::new(binary(binary_name))
            .env("KYC_PORT", "0")
            .env(var, value)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{binary_name} {var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(var),
            "{binary_name} {var}={value}: {stderr}"
        );
    }
    let output = std::process::Command::new(binary("kyc-credit-check-advanced"))
        .env("KYC_PORT", "0")
        .env("KYC_BUREAU_FILE", "/nonexistent/bureau.json")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/bureau.json"));
}
