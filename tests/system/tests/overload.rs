//! More work than a service takes: load shedding (`KYC_MAX_CONCURRENT_REQUESTS`) answers a fast 503 in
//! the service's error format while the probes keep answering; the aggregator's outbound limit
//! (`KYC_OUTBOUND_MAX_CONCURRENCY`) answers 503 without queueing; and the chaos delay
//! (`KYC_CHAOS_DELAY_MS`) slows business routes but never the probes.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use kyc_system_tests::*;
use serde_json::Value;
use tokio::sync::mpsc::error::TryRecvError;

const REPORT: &str = r#"{"type":"BASIC","blackListed":false,"backgroundCheckPass":true,"reasons":[],"servedBy":{"service":"kyc-credit-check-basic","version":"v1","instance":"gated"}}"#;

async fn get_json(url: &str) -> (StatusCode, Value) {
    let r = client().get(url).send().await.expect("answered");
    let status = r.status();
    (status, r.json().await.expect("a JSON body"))
}

async fn probes_answer(service: &Running) {
    for probe in ["/healthz", "/readyz", "/version"] {
        let r = client()
            .get(service.url(probe))
            .send()
            .await
            .expect("probe answered");
        assert_eq!(r.status(), StatusCode::OK, "{probe}");
    }
}

/// The aggregator with `setting` = 1 and one request (`path`) held at a gated gateway: the next
/// request is answered at once (it could not be otherwise: the first is not released until this
/// answer is in) with a 503 in the KYC format naming `setting`, never reaches the gateway, and the
/// probes keep answering; released, the held request succeeds and the permit is back.
async fn one_held_request_makes_the_next_a_fast_503(setting: &str, path: &str) {
    let mut gateway = spawn_gated_gateway(REPORT).await;
    let aggregator = spawn_aggregator(
        &format!("http://{}", gateway.addr),
        &[(setting, "1"), ("KYC_OUTBOUND_TIMEOUT_MS", "20000")],
    )
    .await;
    let url = aggregator.url(path);
    let in_flight = tokio::spawn(client().get(&url).send());
    tokio::time::timeout(WAIT, gateway.arrived.recv())
        .await
        .expect("the first request reached the gateway")
        .expect("arrival");

    let (status, body) = get_json(&url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errorCode"], "KYC-10503");
    assert_eq!(body["type"], "KYC");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(setting), "{message}");
    assert!(
        matches!(gateway.arrived.try_recv(), Err(TryRecvError::Empty)),
        "the refused request never reached the gateway"
    );
    probes_answer(&aggregator).await;

    gateway.release.send(true).expect("release");
    assert_eq!(
        in_flight.await.expect("task").expect("answered").status(),
        StatusCode::OK
    );
    assert_eq!(
        get_json(&url).await.0,
        StatusCode::OK,
        "the permit came back"
    );
}

#[tokio::test]
async fn the_aggregator_sheds_load_with_a_503_json_while_its_probes_answer() {
    one_held_request_makes_the_next_a_fast_503(
        "KYC_MAX_CONCURRENT_REQUESTS",
        "/kyc/v1/customer?demo=alice",
    )
    .await;
}

#[tokio::test]
async fn the_scorers_shed_load_with_a_503_json_while_their_probes_answer() {
    // One request at a time, each held by the chaos delay: of four sent at once, the first in holds the
    // permit for the whole delay, the others are refused at once.
    let vars = [
        ("KYC_MAX_CONCURRENT_REQUESTS", "1"),
        ("KYC_CHAOS_DELAY_MS", "3000"),
    ];
    for service in [spawn_basic(&vars).await, spawn_advanced(&vars).await] {
        let url = service.url("/credit-check/report?demo=alice");
        let calls: Vec<_> = (0..4)
            .map(|_| tokio::spawn(get_json_owned(url.clone())))
            .collect();
        let shed = eventually_shed(&service).await;
        assert_eq!(shed["errorCode"], "KYC-CRD-CHK-10503");
        assert_eq!(shed["type"], "KYC_CREDIT_CHECK");
        probes_answer(&service).await;
        let mut statuses = Vec::new();
        for call in calls {
            statuses.push(call.await.expect("task").0);
        }
        assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|s| [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(s)),
            "{statuses:?}"
        );
    }
}

async fn get_json_owned(url: String) -> (StatusCode, Value) {
    get_json(&url).await
}

/// Polls the business route until one answer is the shedding 503, and returns its body.
async fn eventually_shed(service: &Running) -> Value {
    let url = service.url("/credit-check/report?demo=alice");
    kyc_common::testing::eventually("a request is shed", WAIT, || async {
        let (status, body) = get_json(&url).await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await
}

/// The one outbound call is held by the gateway: the next request cannot be queued behind it.
#[tokio::test]
async fn outbound_exhaustion_is_a_fast_503_json_not_a_queue() {
    one_held_request_makes_the_next_a_fast_503(
        "KYC_OUTBOUND_MAX_CONCURRENCY",
        "/kyc/v1/customer?type=basicReport&demo=jonas",
    )
    .await;
}

#[tokio::test]
async fn the_chaos_delay_slows_business_routes_but_not_probes() {
    const DELAY: Duration = Duration::from_millis(1500);
    let ms = DELAY.as_millis().to_string();
    let vars = [("KYC_CHAOS_DELAY_MS", ms.as_str())];
    let gateway = spawn_canned_gateway(StatusCode::OK, REPORT).await;
    let services = [
        (
            spawn_aggregator(&gateway.url(), &vars).await,
            "/kyc/v1/customer?demo=alice",
        ),
        (spawn_basic(&vars).await, "/credit-check/report?demo=alice"),
        (
            spawn_advanced(&vars).await,
            "/credit-check/report?demo=alice",
        ),
    ];
    for (service, path) in &services {
        // A business request started now cannot be answered before the delay is over...
        let started = Instant::now();
        let business = tokio::spawn(client().get(service.url(path)).send());
        // ...while the probes are answered meanwhile (the business request is still delayed when they
        // are: it cannot finish before DELAY has passed, and is checked to be unfinished).
        probes_answer(service).await;
        let probes_done = started.elapsed();
        if probes_done < DELAY {
            assert!(!business.is_finished(), "{path} answered before its delay");
        }
        let answer = business.await.expect("task").expect("answered");
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        assert!(
            started.elapsed() >= DELAY,
            "{path} answered after {:?}, before the {DELAY:?} delay",
            started.elapsed()
        );
    }
}
