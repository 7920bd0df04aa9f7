//! Handler tests, in process with `oneshot`.

use axum::http::StatusCode;
use axum::Router;
use kyc_common::configuration::{EnvSource, ServiceSettings};
use kyc_common::testing::{
    assert_chaos_spares_probes, assert_service_contract, clean_applicant, get, post_json, send,
};
use kyc_credit_check_advanced::configuration::Settings;
use kyc_credit_check_advanced::startup;

fn app_with(vars: &[(&str, &str)]) -> Router {
    let env = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::load_from(EnvSource::Map(env)).expect("valid settings");
    startup::app(startup::state(&settings).expect("state"))
}

fn app() -> Router {
    app_with(&[("KYC_INSTANCE", "advanced-test-1")])
}

const FLAGS: [&str; 8] = [
    "blackListed",
    "restrictedNational",
    "suspiciousActivity",
    "interpolConductBad",
    "militaryTrained",
    "employmentBad",
    "creditUsageBad",
    "backgroundCheckPass",
];

#[tokio::test]
async fn keeps_the_service_contract() {
    assert_service_contract(
        &app(),
        "kyc-credit-check-advanced",
        "/credit-check/advanced",
        "KYC-CRD-CHK",
    )
    .await;
}

#[tokio::test]
async fn chaos_knobs_spare_probes_and_docs() {
    assert_chaos_spares_probes(
        &app_with(&[("KYC_CHAOS_ERROR_RATE", "1.0")]),
        "/credit-check/advanced",
    )
    .await;
}

#[tokio::test]
async fn both_routes_answer_an_advanced_report_with_every_flag() {
    let app = app();
    for path in ["/credit-check/advanced", "/credit-check/report"] {
        let r = send(&app, post_json(path, &clean_applicant())).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        let report = r.json();
        assert_eq!(report["type"], "ADVANCED");
        for flag in FLAGS {
            assert!(report[flag].is_boolean(), "{path}: {flag}");
        }
        assert_eq!(report["backgroundCheckPass"], true, "{report}");
        assert_eq!(report["servedBy"]["version"], "v2");
        assert_eq!(
            r.header("x-kyc-served-by"),
            Some("kyc-credit-check-advanced/v2/advanced-test-1")
        );
    }
}

#[tokio::test]
async fn the_versions_disagree_on_jonas() {
    let report = send(&app(), get("/credit-check/report?demo=jonas"))
        .await
        .json();
    assert_eq!(report["creditUsageBad"], true);
    assert_eq!(report["backgroundCheckPass"], false);
    assert_eq!(report["reasons"][0]["code"], "CREDIT_UTILISATION_HIGH");
    assert_eq!(report["reasons"][0]["flag"], "creditUsageBad");
}

#[tokio::test]
async fn restricted_and_suspicious_applicants_are_flagged_with_reasons() {
    let mut applicant = clean_applicant();
    applicant["currentResidenceCountry"] = "IRN".into();
    applicant["passportCountryOfIssue"] = "BE".into();
    let report = send(&app(), post_json("/credit-check/advanced", &applicant))
        .await
        .json();
    assert_eq!(report["restrictedNational"], true);
    assert_eq!(report["suspiciousActivity"], true);
    assert_eq!(report["backgroundCheckPass"], false);
    let codes: Vec<&str> = report["reasons"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["code"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(codes, ["RESTRICTED_RESIDENCE", "PASSPORT_ISSUER_MISMATCH"]);
}

#[tokio::test]
async fn replacement_reference_files_are_used() {
    let dir = std::env::temp_dir().join(format!("kyc-advanced-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bureau = dir.join("bureau.json");
    std::fs::write(
        &bureau,
        r#"{"records":[{"passportNumber":"SE1029384","militaryServiceYears":3}]}"#,
    )
    .expect("write");
    let countries = dir.join("countries.json");
    std::fs::write(&countries, r#"{"countries":["SWE"]}"#).expect("write");
    let app = app_with(&[
        ("KYC_BUREAU_FILE", bureau.to_str().expect("utf-8")),
        (
            "KYC_RESTRICTED_COUNTRIES_FILE",
            countries.to_str().expect("utf-8"),
        ),
    ]);
    let report = send(
        &app,
        post_json("/credit-check/advanced", &clean_applicant()),
    )
    .await
    .json();
    assert_eq!(report["militaryTrained"], true);
    assert_eq!(report["restrictedNational"], true);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_broken_reference_file_stops_start_up_with_its_name() {
    let env = [(
        "KYC_NOTICES_FILE".to_string(),
        "/nonexistent/notices.json".to_string(),
    )]
    .into();
    let settings = Settings::load_from(EnvSource::Map(env)).expect("settings");
    let err = startup::state(&settings).err().expect("refused");
    assert!(
        err.contains("notices") && err.contains("/nonexistent/notices.json"),
        "{err}"
    );
}
