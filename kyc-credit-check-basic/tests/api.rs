//! Handler tests, in process with `oneshot`.

use axum::http::StatusCode;
use axum::Router;
use kyc_common::configuration::{EnvSource, ServiceSettings};
use kyc_common::testing::{
    assert_chaos_spares_probes, assert_service_contract, clean_applicant, get, post_json, send,
};
use kyc_credit_check_basic::configuration::Settings;
use kyc_credit_check_basic::startup;

fn app_with(vars: &[(&str, &str)]) -> Router {
    let env = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::load_from(EnvSource::Map(env)).expect("valid settings");
    startup::app(startup::state(&settings).expect("state"))
}

fn app() -> Router {
    app_with(&[("KYC_INSTANCE", "basic-test-1")])
}

#[tokio::test]
async fn keeps_the_service_contract() {
    assert_service_contract(
        &app(),
        "kyc-credit-check-basic",
        "/credit-check/basic",
        "KYC-CRD-CHK",
    )
    .await;
}

#[tokio::test]
async fn chaos_knobs_spare_probes_and_docs() {
    assert_chaos_spares_probes(
        &app_with(&[("KYC_CHAOS_ERROR_RATE", "1")]),
        "/credit-check/basic",
    )
    .await;
}

#[tokio::test]
async fn both_routes_answer_a_basic_report_for_get_and_post() {
    let app = app();
    for path in ["/credit-check/basic", "/credit-check/report"] {
        let r = send(&app, get(&format!("{path}?demo=alice"))).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let report = r.json();
        assert_eq!(report["type"], "BASIC");
        assert_eq!(report["blackListed"], false);
        assert_eq!(report["backgroundCheckPass"], true);
        assert!(
            report.get("creditUsageBad").is_none(),
            "basic reports keep the original's basic fields"
        );
        assert_eq!(
            report["servedBy"],
            serde_json::json!({"service": "kyc-credit-check-basic", "version": "v1", "instance": "basic-test-1"})
        );
        assert_eq!(
            r.header("x-kyc-served-by"),
            Some("kyc-credit-check-basic/v1/basic-test-1")
        );

        let r = send(&app, post_json(path, &clean_applicant())).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert_eq!(r.json()["backgroundCheckPass"], true);
    }
}

#[tokio::test]
async fn a_get_without_demo_scores_one_of_the_demo_applicants() {
    let r = send(&app(), get("/credit-check/basic")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["type"], "BASIC");
}

#[tokio::test]
async fn watchlisted_applicants_fail_with_a_reason() {
    let r = send(&app(), get("/credit-check/basic?demo=viktor")).await;
    let report = r.json();
    assert_eq!(report["blackListed"], true);
    assert_eq!(report["backgroundCheckPass"], false);
    assert_eq!(report["reasons"][0]["code"], "WATCHLIST_NAME");

    let mut applicant = clean_applicant();
    applicant["firstName"] = "  VIKTOR ".into();
    applicant["lastName"] = "zane".into();
    let report = send(&app(), post_json("/credit-check/basic", &applicant))
        .await
        .json();
    assert_eq!(report["blackListed"], true);
}

#[tokio::test]
async fn expired_passports_and_minors_fail_the_background_check() {
    let mut applicant = clean_applicant();
    applicant["passportExpiryDate"] = "2001-01-01".into();
    let report = send(&app(), post_json("/credit-check/report", &applicant))
        .await
        .json();
    assert_eq!(report["backgroundCheckPass"], false);
    assert_eq!(report["blackListed"], false);
    assert_eq!(report["reasons"][0]["code"], "PASSPORT_EXPIRED");
}

#[tokio::test]
async fn invalid_fields_are_named() {
    for (field, value) in [
        ("dateOfBirth", "14/03/1988"),
        ("citizenship", "XX"),
        ("passportNumber", "SE-1029384"),
        ("firstName", "R2D2"),
    ] {
        let mut applicant = clean_applicant();
        applicant[field] = value.into();
        let r = send(&app(), post_json("/credit-check/basic", &applicant)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let message = r.json()["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.starts_with(field), "{field}: {message}");
    }
}

#[tokio::test]
async fn an_unknown_demo_applicant_is_a_400() {
    let r = send(&app(), get("/credit-check/basic?demo=mallory")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["errorCode"], "KYC-CRD-CHK-10400");
}

#[tokio::test]
async fn a_replacement_watchlist_file_is_used() {
    let dir = std::env::temp_dir().join(format!("kyc-basic-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("watchlist.json");
    std::fs::write(
        &path,
        r#"{"names":["Petra Lindqvist"],"passportNumbers":[]}"#,
    )
    .expect("write");
    let app = app_with(&[("KYC_WATCHLIST_FILE", path.to_str().expect("utf-8 path"))]);
    let report = send(&app, post_json("/credit-check/basic", &clean_applicant()))
        .await
        .json();
    assert_eq!(report["blackListed"], true);
    let report = send(&app, get("/credit-check/basic?demo=viktor"))
        .await
        .json();
    assert_eq!(
        report["blackListed"], false,
        "the file replaces the embedded list"
    );
    std::fs::remove_dir_all(&dir).ok();
}
