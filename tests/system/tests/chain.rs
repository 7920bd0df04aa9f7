//! The aggregator with real scorers behind a real HTTP stand-in for the gateway, all on loopback.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::StatusCode;
use kyc_common::testing::{clean_applicant, eventually};
use kyc_system_tests::*;
use serde_json::Value;

struct Mesh {
    aggregator: Running,
    gateway: Gateway,
    _basic: Running,
    _advanced: Running,
}

async fn mesh() -> Mesh {
    let basic = spawn_basic(&[("KYC_INSTANCE", "basic-1")]).await;
    let advanced = spawn_advanced(&[("KYC_INSTANCE", "advanced-1")]).await;
    let gateway = spawn_gateway(basic.addr, advanced.addr).await;
    let aggregator = spawn_aggregator(&gateway.url(), &[]).await;
    Mesh {
        aggregator,
        gateway,
        _basic: basic,
        _advanced: advanced,
    }
}

async fn get(url: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = client().get(url).send().await.expect("request");
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.json().await.expect("JSON body"))
}

async fn post(url: &str, body: &Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = client().post(url).json(body).send().await.expect("request");
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.json().await.expect("JSON body"))
}

#[tokio::test]
async fn every_type_by_get_and_post_reaches_the_right_scorer() {
    let m = mesh().await;
    for base in ["/kyc/v1/customer", "/ingress/kyc/v1/customer"] {
        for (report_type, expected) in [("basicReport", "BASIC"), ("advancedReport", "ADVANCED")] {
            let url = m
                .aggregator
                .url(&format!("{base}?type={report_type}&demo=alice"));
            let (status, headers, body) = get(&url).await;
            assert_eq!(status, StatusCode::OK, "GET {url}: {body}");
            assert_eq!(body["type"], expected, "GET {url}");
            assert_eq!(body["backgroundCheckPass"], true);
            let scorer = body["servedBy"]["service"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let scored_by = headers
                .get("x-kyc-scored-by")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(
                scored_by.starts_with(&scorer),
                "header {scored_by} names the scorer {scorer}"
            );
            assert!(headers
                .get("x-kyc-served-by")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("kyc-aggregator-mgt/v1/")));

            let url = m.aggregator.url(&format!("{base}?type={report_type}"));
            let (status, _, body) = post(&url, &clean_applicant()).await;
            assert_eq!(status, StatusCode::OK, "POST {url}: {body}");
            assert_eq!(body["type"], expected, "POST {url}");
        }
    }
    let paths: HashSet<String> = m
        .gateway
        .seen
        .requests()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        paths,
        ["/credit-check/basic", "/credit-check/advanced"]
            .iter()
            .map(|p| p.to_string())
            .collect()
    );
}

#[tokio::test]
async fn the_canary_route_is_answered_by_both_scorers() {
    let m = mesh().await;
    let mut types = Vec::new();
    for url in [
        m.aggregator.url("/kyc/v1/customer"),
        m.aggregator.url("/kyc/v1/customer?type=report&demo=jonas"),
    ] {
        for _ in 0..2 {
            let (status, _, body) = get(&url).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            types.push(body["type"].as_str().unwrap_or_default().to_owned());
        }
    }
    let (status, _, body) = post(
        &m.aggregator.url("/kyc/v1/customer?type=report"),
        &clean_applicant(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        types.contains(&"BASIC".to_owned()) && types.contains(&"ADVANCED".to_owned()),
        "{types:?}"
    );
    assert!(m
        .gateway
        .seen
        .requests()
        .iter()
        .all(|(p, _)| p == "/credit-check/report"));
}

#[tokio::test]
async fn jonas_passes_basic_and_fails_advanced() {
    let m = mesh().await;
    let (_, _, basic) = get(&m
        .aggregator
        .url("/kyc/v1/customer?type=basicReport&demo=jonas"))
    .await;
    let (_, _, advanced) = get(&m
        .aggregator
        .url("/kyc/v1/customer?type=advancedReport&demo=jonas"))
    .await;
    assert_eq!(basic["backgroundCheckPass"], true);
    assert_eq!(advanced["backgroundCheckPass"], false);
    assert_eq!(advanced["reasons"][0]["code"], "CREDIT_UTILISATION_HIGH");
}

#[tokio::test]
async fn bad_input_is_refused_before_the_gateway() {
    let m = mesh().await;
    let (status, _, body) = get(&m.aggregator.url("/kyc/v1/customer?type=premiumReport")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "KYC-10400");
    assert_eq!(body["type"], "KYC");

    let mut applicant = clean_applicant();
    applicant["passportCountryOfIssue"] = "Atlantis".into();
    let (status, _, body) = post(&m.aggregator.url("/kyc/v1/customer"), &applicant).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errorCode"], "KYC-10422");
    assert!(body["errorMessage"]
        .as_str()
        .is_some_and(|m| m.starts_with("passportCountryOfIssue")));

    let r = client()
        .post(m.aggregator.url("/kyc/v1/customer"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        m.gateway.seen.requests().is_empty(),
        "nothing reached the gateway"
    );
}

#[tokio::test]
async fn a_scorer_4xx_passes_through() {
    let body = r#"{"errorCode":"KYC-CRD-CHK-10422","errorMessage":"dateOfBirth: is required","type":"KYC_CREDIT_CHECK"}"#;
    let gateway = spawn_canned_gateway(StatusCode::UNPROCESSABLE_ENTITY, body).await;
    let aggregator = spawn_aggregator(&gateway.url(), &[]).await;
    let (status, _, answer) = get(&aggregator.url("/kyc/v1/customer?demo=alice")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer, serde_json::from_str::<Value>(body).expect("json"));
}

#[tokio::test]
async fn gateway_failures_are_502s_with_the_error_body() {
    for (status, body) in [
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"errorCode":"KYC-CRD-CHK-10503","errorMessage":"injected failure","type":"KYC_CREDIT_CHECK"}"#,
        ),
        (StatusCode::SERVICE_UNAVAILABLE, "no healthy upstream"),
        (StatusCode::NOT_FOUND, ""),
        (StatusCode::OK, r#"{"not":"a report"}"#),
    ] {
        let gateway = spawn_canned_gateway(status, body).await;
        let aggregator = spawn_aggregator(&gateway.url(), &[]).await;
        let (answer_status, _, answer) = get(&aggregator.url("/kyc/v1/customer?demo=alice")).await;
        assert_eq!(
            answer_status,
            StatusCode::BAD_GATEWAY,
            "{status} {body}: {answer}"
        );
        assert_eq!(answer["errorCode"], "KYC-10502");
        assert_eq!(answer["type"], "KYC");
    }
}

#[tokio::test]
async fn gateway_down_is_a_fast_502() {
    let closed = closed_port().await;
    // A long outbound timeout: the answer must come from the refused connection, not the timeout
    // (the test client gives up after 20 s).
    let aggregator = spawn_aggregator(
        &format!("http://{closed}"),
        &[("KYC_OUTBOUND_TIMEOUT_MS", "60000")],
    )
    .await;
    let (status, _, body) = get(&aggregator.url("/kyc/v1/customer?demo=alice")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["errorCode"], "KYC-10502");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("KYC_GATEWAY_URL")),
        "{body}"
    );
    let (status, _, _) = get(&aggregator.url("/readyz")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "readiness does not depend on the gateway"
    );
}

#[tokio::test]
async fn a_hanging_gateway_is_a_504_within_the_timeout() {
    let hanging = spawn_hanging_gateway().await;
    let aggregator = spawn_aggregator(
        &format!("http://{hanging}"),
        &[("KYC_OUTBOUND_TIMEOUT_MS", "300")],
    )
    .await;
    let (status, _, body) = post(&aggregator.url("/kyc/v1/customer"), &clean_applicant()).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["errorCode"], "KYC-10504");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("300 ms")),
        "{body}"
    );
}

#[tokio::test]
async fn tracing_and_routing_headers_are_forwarded() {
    let m = mesh().await;
    let propagated = [
        ("x-request-id", "req-7f3a"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "rojo=00f067aa0ba902b7"),
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ("x-b3-parentspanid", "05e3ac9a4f6e3b90"),
        ("x-b3-sampled", "1"),
        ("x-b3-flags", "0"),
        ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        ("x-ot-span-context", "ctx"),
        ("x-kyc-tester", "advanced"),
        ("end-user", "tester"),
    ];
    let mut request = client().get(
        m.aggregator
            .url("/kyc/v1/customer?type=basicReport&demo=alice"),
    );
    for (name, value) in propagated {
        request = request.header(name, value);
    }
    let r = request
        .header("cookie", "session=secret")
        .header("authorization", "Bearer secret")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-7f3a")
    );
    let seen = m.gateway.seen.requests();
    let (_, headers) = seen.last().expect("the gateway was called");
    for (name, value) in propagated {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }
    assert!(headers.get("cookie").is_none() && headers.get("authorization").is_none());

    // Without one, the aggregator creates the request id, answers it, and forwards it.
    let r = client()
        .get(
            m.aggregator
                .url("/kyc/v1/customer?type=basicReport&demo=alice"),
        )
        .send()
        .await
        .expect("request");
    let answered = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(!answered.is_empty());
    let seen = m.gateway.seen.requests();
    let (_, headers) = seen.last().expect("the gateway was called");
    assert_eq!(
        headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        Some(answered.as_str())
    );
}

#[tokio::test]
async fn shutdown_drains_then_finishes_requests_in_flight() {
    const REPORT: &str = r#"{"type":"BASIC","blackListed":false,"backgroundCheckPass":true,"reasons":[],"servedBy":{"service":"kyc-credit-check-basic","version":"v1","instance":"gated"}}"#;
    let mut gateway = spawn_gated_gateway(REPORT).await;
    let mut aggregator = spawn_aggregator(
        &format!("http://{}", gateway.addr),
        &[
            ("KYC_DRAIN_MS", "1500"),
            ("KYC_OUTBOUND_TIMEOUT_MS", "20000"),
        ],
    )
    .await;
    let in_flight = tokio::spawn(
        client()
            .get(aggregator.url("/kyc/v1/customer?demo=alice"))
            .send(),
    );
    tokio::time::timeout(WAIT, gateway.arrived.recv())
        .await
        .expect("the request reached the gateway")
        .expect("arrival");

    aggregator.shutdown();
    let ready = aggregator.url("/readyz");
    eventually("readiness turns 503 while draining", WAIT, || async {
        let r = client().get(&ready).send().await.ok()?;
        (r.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(())
    })
    .await;
    let version = client()
        .get(aggregator.url("/version"))
        .send()
        .await
        .expect("still serving while draining");
    assert_eq!(version.status(), StatusCode::OK);

    gateway.release.send(true).expect("release");
    let answer = in_flight
        .await
        .expect("task")
        .expect("the request in flight is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.json::<Value>().await.expect("json")["servedBy"]["instance"],
        "gated"
    );

    let stopped = tokio::time::timeout(Duration::from_secs(20), &mut aggregator.task)
        .await
        .expect("the server stops after the drain")
        .expect("task");
    assert!(stopped.is_ok());
    assert!(
        client().get(&ready).send().await.is_err(),
        "the listener is closed"
    );
}
