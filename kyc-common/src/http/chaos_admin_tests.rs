//! `/admin/chaos` in process (oneshot): mounted only with `KYC_CHAOS_API=true`, effective on the next
//! business request, bad values named, cross-origin refused, not in the OpenAPI document nor metrics.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::configuration::{CommonSettings, EnvSource, Layers};
use crate::error::CREDIT_CHECK_ERRORS;
use crate::http::{assemble, ServiceContext, OPENAPI_PATH};
use crate::testing::{get as get_req, send};

fn app(vars: &[(&str, &str)]) -> axum::Router {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let layers = Layers::read(EnvSource::Map(map)).expect("layers");
    let settings = CommonSettings::read(&layers, "v2").expect("settings");
    let ctx = ServiceContext::new("svc", "0.1.0", CREDIT_CHECK_ERRORS, &settings);
    let business = OpenApiRouter::new().route("/work", get(|| async { "done" }));
    assemble(OpenApi::default(), business, Arc::clone(&ctx))
}

fn put(body: &str, content_type: Option<&str>, origin: Option<&str>) -> Request<Body> {
    let mut r = Request::put("/admin/chaos");
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    r.body(Body::from(body.to_owned())).expect("request")
}

fn delete() -> Request<Body> {
    Request::delete("/admin/chaos")
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn not_mounted_unless_enabled() {
    for vars in [&[][..], &[("KYC_CHAOS_API", "false")][..]] {
        let app = app(vars);
        let r = send(
            &app,
            put(r#"{"errorRate":1}"#, Some("application/json"), None),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{vars:?}");
        assert_eq!(send(&app, get_req("/work")).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_runtime_setting_replaces_the_env_one_at_once_and_delete_turns_it_off() {
    let app = app(&[("KYC_CHAOS_API", "true"), ("KYC_CHAOS_DELAY_MS", "5")]);
    let r = send(&app, get_req("/admin/chaos")).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"errorRate": 0.0, "delayMs": 5})
    );
    let r = send(
        &app,
        put(r#"{"errorRate":1}"#, Some("application/json"), None),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"errorRate": 1.0, "delayMs": 0})
    );
    let failed = send(&app, get_req("/work")).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.json()["errorCode"], "KYC-CRD-CHK-10503");
    // Probes are spared, as with the env knobs.
    assert_eq!(send(&app, get_req("/readyz")).await.status, StatusCode::OK);
    let r = send(&app, delete()).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"errorRate": 0.0, "delayMs": 0})
    );
    assert_eq!(send(&app, get_req("/work")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_values_are_400_naming_the_field_and_change_nothing() {
    let app = app(&[("KYC_CHAOS_API", "true")]);
    for (body, field) in [
        (r#"{"errorRate":1.5}"#, "errorRate"),
        (r#"{"errorRate":-0.1}"#, "errorRate"),
        (r#"{"errorRate":"half"}"#, "errorRate"),
        (r#"{"delayMs":60001}"#, "delayMs"),
        (r#"{"delayMs":2.5}"#, "delayMs"),
        (r#"{"delayMs":-1}"#, "delayMs"),
        (r#"{"errorRate":0.1,"speed":3}"#, "speed"),
        (r#"[0.1]"#, "JSON object"),
        (r#"{"errorRate":"#, "not JSON"),
    ] {
        let r = send(&app, put(body, Some("application/json"), None)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        let json = r.json();
        assert_eq!(json["errorCode"], "KYC-CRD-CHK-10400", "{body}");
        assert_eq!(json["type"], "KYC_CREDIT_CHECK", "{body}");
        let message = json["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {message}");
    }
    let r = send(&app, get_req("/admin/chaos")).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"errorRate": 0.0, "delayMs": 0})
    );
}

#[tokio::test]
async fn cross_origin_and_non_json_requests_are_refused() {
    let app = app(&[("KYC_CHAOS_API", "true")]);
    let body = r#"{"errorRate":1}"#;
    let r = send(
        &app,
        put(body, Some("application/json"), Some("http://evil.example")),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["errorCode"], "KYC-CRD-CHK-10403");
    let mut del = delete();
    del.headers_mut()
        .insert("origin", "http://evil.example".parse().expect("header"));
    assert_eq!(send(&app, del).await.status, StatusCode::FORBIDDEN);
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let r = send(&app, put(body, ct, None)).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
    }
    assert_eq!(send(&app, get_req("/work")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn absent_from_the_openapi_document_and_the_business_metrics() {
    let app = app(&[("KYC_CHAOS_API", "true")]);
    let doc = send(&app, get_req(OPENAPI_PATH)).await.text();
    assert!(!doc.contains("/admin/chaos"), "{doc}");
    send(&app, delete()).await;
    send(&app, get_req("/work")).await;
    let metrics = send(&app, get_req("/metrics")).await.text();
    assert!(metrics.contains(r#"http_route="/work""#), "{metrics}");
    assert!(!metrics.contains("/admin/chaos"), "{metrics}");
}
