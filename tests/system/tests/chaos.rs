//! Runtime chaos with the real binaries over loopback: `/admin/chaos` exists only with
//! `KYC_CHAOS_API=true`, changes business answers at once (probes spared), refuses bad values
//! naming the field and cross-origin requests, and `DELETE` turns it off.

use axum::http::StatusCode;
use kyc_system_tests::{client, Child};
use serde_json::{json, Value};

async fn put(c: &reqwest::Client, url: &str, body: Value) -> (StatusCode, Value) {
    let r = c.put(url).json(&body).send().await.expect("put");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn runtime_chaos_is_off_unless_enabled() {
    let advanced = Child::start("kyc-credit-check-advanced", &[]).await;
    let (status, _) = put(
        &client(),
        &advanced.url("/admin/chaos"),
        json!({"errorRate": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn runtime_chaos_changes_answers_at_once_and_turns_off() {
    let advanced = Child::start("kyc-credit-check-advanced", &[("KYC_CHAOS_API", "true")]).await;
    let c = client();
    let admin = advanced.url("/admin/chaos");
    let business = advanced.url("/credit-check/report?demo=alice");
    assert_eq!(
        c.get(&business).send().await.expect("get").status(),
        StatusCode::OK
    );
    let (status, now) = put(&c, &admin, json!({"errorRate": 1})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(now, json!({"errorRate": 1.0, "delayMs": 0}));
    let failed = c.get(&business).send().await.expect("get");
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = failed.json().await.expect("json");
    assert_eq!(body["type"], "KYC_CREDIT_CHECK");
    let ready = c.get(advanced.url("/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK, "probes are spared");
    // Bad values: 400 naming the field, the setting unchanged.
    let (status, body) = put(&c, &admin, json!({"errorRate": 0.5, "delayMs": 90000})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("delayMs"),
        "{body}"
    );
    assert_eq!(
        c.get(&business).send().await.expect("get").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // A page of another site cannot change it.
    let r = c
        .delete(&admin)
        .header("origin", "http://example.com")
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.delete(&admin).send().await.expect("delete");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        c.get(&business).send().await.expect("get").status(),
        StatusCode::OK
    );
    // Not in the OpenAPI document.
    let doc = c
        .get(advanced.url("/api-docs/openapi.json"))
        .send()
        .await
        .expect("doc")
        .text()
        .await
        .expect("text");
    assert!(!doc.contains("/admin/chaos"));
}
