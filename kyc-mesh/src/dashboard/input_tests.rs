use super::*;

#[test]
fn bodies_name_the_bad_field() {
    let e = parse::<WeightsBody>(br#"{"virtualService":"vs","weights":{}}"#).expect_err("route");
    assert_eq!(e.field.as_deref(), Some("route"), "{e:?}");
    let e = parse::<WeightsBody>(br#"{"virtualService":"vs","route":"r"}"#).expect_err("weights");
    assert_eq!(e.field.as_deref(), Some("weights"), "{e:?}");
    let e = parse::<WeightsBody>(br#"{"virtualService":1,"route":"r","weights":null}"#)
        .expect_err("type");
    assert_eq!(e.field.as_deref(), Some("virtualService"), "{e:?}");
    let e = parse::<WeightsBody>(b"{not json").expect_err("json");
    assert_eq!(e.field.as_deref(), Some("body"));
    assert!(e.error.contains("not JSON"), "{e:?}");
    let e = parse::<WeightsBody>(br#"{"virtualService":"vs","route":"r","weights":null} x"#)
        .expect_err("trailing");
    assert_eq!(e.field.as_deref(), Some("body"));
    let e = parse::<ChaosBody>(br#"{"errorRat":0.5}"#).expect_err("unknown");
    assert_eq!(e.field.as_deref(), Some("errorRat"));
    let e = parse::<LoadBody>(br#"{"rps":-1}"#).expect_err("negative");
    assert_eq!(e.field.as_deref(), Some("rps"));
    let w = parse::<WeightsBody>(br#"{"virtualService":"vs","route":"r","weights":{"a":"x"}}"#)
        .expect("shape");
    assert_eq!(
        w.weights().expect_err("str").field.as_deref(),
        Some("weights.a")
    );
    let w = parse::<WeightsBody>(br#"{"virtualService":"vs","route":"r","weights":null}"#)
        .expect("null");
    assert_eq!(w.weights().expect("clear"), None);
}

#[test]
fn scenarios_are_names_only() {
    let known = vec!["canary-90-10".to_string()];
    let name = |json: &[u8]| parse::<ScenarioBody>(json).expect("shape").name(&known);
    assert_eq!(name(br#"{"scenario":null}"#).expect("none"), None);
    assert_eq!(
        name(br#"{"scenario":"canary-90-10"}"#).expect("known"),
        Some("canary-90-10".to_string())
    );
    for bad in [&br#"{"scenario":"/etc/passwd"}"#[..], br#"{"scenario":3}"#] {
        assert_eq!(
            name(bad).expect_err("refused").field.as_deref(),
            Some("scenario")
        );
    }
}

#[test]
fn canary_parameters_default_and_are_read() {
    let spec = canary_spec(b"").expect("defaults");
    assert_eq!(spec, crate::canary::model::CanarySpec::default());
    let spec = canary_spec(br#"{"stepWeight":20,"loadRps":30}"#).expect("given");
    assert_eq!((spec.step_weight, spec.load_rps), (20, Some(30)));
    let e = canary_spec(br#"{"stepWeigth":5}"#).expect_err("unknown");
    assert_eq!(e.field.as_deref(), Some("stepWeigth"));
    // A value out of range is `up`'s to refuse: its refusal names the field.
    let spec = canary_spec(br#"{"stepWeight":0}"#).expect("read");
    let e = spec.validate().expect_err("range");
    assert_eq!(e.field, "stepWeight");
}

/// The JSON body of an answer.
async fn body(r: HttpResponse) -> serde_json::Value {
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn answers_of_up_map_to_http_with_the_field_carried_as_a_value() {
    let status = |r| answer(r).status();
    assert_eq!(status(Some(Outcome::done("ok"))), StatusCode::OK);
    assert_eq!(
        status(Some(Outcome::refused(Refusal::Conflict, "running"))),
        StatusCode::CONFLICT
    );
    assert_eq!(status(None), StatusCode::SERVICE_UNAVAILABLE);
    let invalid = FieldError::new("weights.kyc-credit-check-basic", "missing");
    let r = answer(Some(invalid.into()));
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b = body(r).await;
    assert_eq!(b["field"], "weights.kyc-credit-check-basic");
    assert_eq!(b["error"], "weights.kyc-credit-check-basic: missing");
    // A refusal without a field names none.
    let b = body(answer(Some(Outcome::refused(Refusal::BadRequest, "x: y")))).await;
    assert!(b.get("field").is_none(), "{b}");
}

#[test]
fn a_chaos_instance_is_an_index_or_a_pod_name_from_the_query() {
    let s = "kyc-credit-check-advanced";
    let pick = |uri: &str| chaos_instance(s, &uri.parse::<Uri>().expect("uri"));
    assert_eq!(pick("/api/chaos/x"), Ok(None));
    assert_eq!(pick("/api/chaos/x?"), Ok(None));
    let one = Some("kyc-credit-check-advanced-1".to_string());
    assert_eq!(pick("/api/chaos/x?instance=1"), Ok(one.clone()));
    assert_eq!(
        pick("/api/chaos/x?instance=kyc-credit-check-advanced-1"),
        Ok(one)
    );
    for (uri, field) in [
        ("/api/chaos/x?instance=", "instance"),
        ("/api/chaos/x?instance=%20", "instance"),
        ("/api/chaos/x?instance=99999999999", "instance"),
        ("/api/chaos/x?pod=1", "query"),
    ] {
        let e = pick(uri).expect_err(uri);
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(e.field.as_deref(), Some(field), "{uri}: {}", e.error);
        assert!(e.error.starts_with(field), "{uri}: {}", e.error);
    }
}

#[test]
fn an_unknown_instance_of_a_known_service_is_a_bad_instance() {
    let mut refused = Refused::new(
        Refusal::UnknownService,
        "kyc-credit-check-advanced has no instance \"kyc-credit-check-advanced-7\"",
    );
    refused.field = Some("instance".into());
    assert_eq!(
        answer(Some(refused.into())).status(),
        StatusCode::BAD_REQUEST
    );
    let unknown = Outcome::refused(Refusal::UnknownService, "unknown service \"x\"");
    assert_eq!(answer(Some(unknown)).status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_scenario_switch_answers_as_it_ended() {
    let wait = Duration::from_secs(15);
    let status = |o| scenario_answer(o, "canary-90-10", wait).status();
    assert_eq!(status(Some(Outcome::done("switched"))), StatusCode::OK);
    assert_eq!(
        status(Some(Outcome::failed("the mesh refused"))),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let invalid = FieldError::new("scenario", "x does not translate");
    assert_eq!(status(Some(invalid.into())), StatusCode::BAD_REQUEST);
    assert_eq!(status(None), StatusCode::ACCEPTED);
}
