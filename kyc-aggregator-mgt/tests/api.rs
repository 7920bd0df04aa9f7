//! Handler tests, in process with `oneshot` (no gateway is called by these requests).

use axum::http::StatusCode;
use axum::Router;
use kyc_aggregator_mgt::configuration::Settings;
use kyc_aggregator_mgt::startup;
use kyc_common::configuration::{EnvSource, ServiceSettings};
use kyc_common::testing::{assert_chaos_spares_probes, assert_service_contract, get, send};

fn app_with(vars: &[(&str, &str)]) -> Router {
    let mut env: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Nothing listens there: these tests must not need a gateway.
    env.entry("KYC_GATEWAY_URL".into())
        .or_insert_with(|| "http://127.0.0.1:9".into());
    let settings = Settings::load_from(EnvSource::Map(env)).expect("valid settings");
    startup::app(startup::state(&settings).expect("state"))
}

#[tokio::test]
async fn keeps_the_service_contract() {
    assert_service_contract(
        &app_with(&[]),
        "kyc-aggregator-mgt",
        "/kyc/v1/customer",
        "KYC",
    )
    .await;
}

#[tokio::test]
async fn chaos_knobs_spare_probes_and_docs() {
    assert_chaos_spares_probes(
        &app_with(&[("KYC_CHAOS_ERROR_RATE", "1")]),
        "/kyc/v1/customer",
    )
    .await;
}

#[tokio::test]
async fn the_spec_documents_both_customer_paths_and_gateway_errors() {
    let spec = send(&app_with(&[]), get("/api-docs/openapi.json"))
        .await
        .json();
    for path in ["/kyc/v1/customer", "/ingress/kyc/v1/customer"] {
        for method in ["get", "post"] {
            let op = &spec["paths"][path][method];
            for status in ["200", "400", "502", "503", "504"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} documents {status}"
                );
            }
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            assert!(
                params.iter().any(|p| p["name"] == "type"),
                "{method} {path} documents `type`"
            );
        }
    }
    assert!(spec["components"]["schemas"]["ApplicantRequest"]["example"].is_object());
}

#[tokio::test]
async fn unknown_types_and_demo_applicants_are_400s() {
    let app = app_with(&[]);
    for uri in [
        "/kyc/v1/customer?type=gold",
        "/kyc/v1/customer?demo=nobody",
        "/kyc/v1/customer?type=report&type=x",
    ] {
        let r = send(&app, get(uri)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
        assert_eq!(r.json()["errorCode"], "KYC-10400");
    }
}
