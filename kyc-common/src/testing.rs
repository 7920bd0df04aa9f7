//! Test helpers (feature `testing`): in-process requests with `tower::ServiceExt::oneshot`, and polling
//! with a deadline instead of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request through the application, in process.
pub async fn send(app: &Router, request: Request<Body>) -> TestResponse {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|e| match e {});
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_else(|e| panic!("cannot read the body: {e}"));
    TestResponse {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("bad request {uri}: {e}"))
}

pub fn post_json(uri: &str, body: &serde_json::Value) -> Request<Body> {
    post_raw(uri, "application/json", body.to_string())
}

pub fn post_raw(uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap_or_else(|e| panic!("bad request {uri}: {e}"))
}

/// The fictional applicant most tests post: clean for both scorers. Dates are relative to today so
/// the passport stays valid whenever the tests run.
pub fn clean_applicant() -> serde_json::Value {
    let today = crate::domain::today_utc();
    let expiry = crate::domain::applicant::iso(today.saturating_add(time::Duration::days(3 * 365)));
    serde_json::json!({
        "firstName": "Petra",
        "lastName": "Lindqvist",
        "dateOfBirth": "1988-03-14",
        "gender": "female",
        "maritalStatus": "married",
        "citizenship": "SE",
        "currentResidenceCountry": "SWE",
        "passportNumber": "SE1029384",
        "passportExpiryDate": expiry,
        "passportCountryOfIssue": "SE"
    })
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The contract every KYC service keeps, checked on one service's application: redirects, docs,
/// probes, identity headers, and JSON errors for every kind of bad request.
///
/// `business_path` is a route taking a POSTed applicant and answering a GET; `code_prefix` is
/// `KYC` or `KYC-CRD-CHK`; `service` the service name.
pub async fn assert_service_contract(
    app: &Router,
    service: &str,
    business_path: &str,
    code_prefix: &str,
) {
    let error_type = if code_prefix == "KYC" {
        "KYC"
    } else {
        "KYC_CREDIT_CHECK"
    };
    let assert_error = |r: &TestResponse, status: u16, what: &str| {
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.text());
        let body = r.json();
        assert_eq!(
            body["errorCode"],
            format!("{code_prefix}-10{status}"),
            "{what}"
        );
        assert_eq!(body["type"], error_type, "{what}");
        assert!(
            body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
        assert!(
            r.header("x-kyc-served-by")
                .is_some_and(|h| h.starts_with(service)),
            "{what}"
        );
    };

    let r = send(app, get("/")).await;
    assert!(r.status.is_redirection(), "GET / redirects");
    assert_eq!(r.header("location"), Some("/swagger-ui/"));

    let r = send(app, get("/swagger-ui/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("swagger"), "Swagger UI page");

    let r = send(app, get("/api-docs/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    let spec = r.json();
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1"
    );
    assert_eq!(spec["info"]["title"], service);
    for path in [business_path, "/healthz", "/readyz", "/version"] {
        assert!(spec["paths"][path].is_object(), "spec documents {path}");
    }
    for schema in ["ErrorBody", "ApplicantRequest", "CreditCheckReport"] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "spec has schema {schema}"
        );
    }
    let post = &spec["paths"][business_path]["post"];
    for status in ["400", "413", "415", "422", "503"] {
        assert!(
            post["responses"][status].is_object(),
            "POST {business_path} documents {status}"
        );
    }

    let r = send(app, get("/healthz")).await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (StatusCode::OK, "ok".into())
    );
    let r = send(app, get("/readyz")).await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (StatusCode::OK, "ready".into())
    );
    let r = send(app, get("/version")).await;
    assert_eq!(r.json()["service"], service);
    assert!(
        r.header("x-request-id").is_some_and(|id| !id.is_empty()),
        "request id on responses"
    );

    let r = send(
        app,
        Request::get("/healthz")
            .header("x-request-id", "given-id-42")
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_eq!(
        r.header("x-request-id"),
        Some("given-id-42"),
        "a given request id is kept"
    );

    assert_error(
        &send(app, get("/no/such/route")).await,
        404,
        "unknown route",
    );
    let r = send(
        app,
        Request::delete(business_path)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_error(&r, 405, "DELETE on a business route");

    let r = send(
        app,
        post_raw(business_path, "text/plain", clean_applicant().to_string()),
    )
    .await;
    assert_error(&r, 415, "wrong content type");
    let r = send(
        app,
        Request::post(business_path)
            .body(Body::from(clean_applicant().to_string()))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    assert_error(&r, 415, "no content type");
    let r = send(
        app,
        post_raw(business_path, "application/json", "{\"firstName\": "),
    )
    .await;
    assert_error(&r, 400, "truncated JSON");
    let r = send(app, post_raw(business_path, "application/json", "[1,2,3]")).await;
    assert_error(&r, 422, "JSON of the wrong shape");
    let mut wrong_type = clean_applicant();
    wrong_type["passportNumber"] = serde_json::json!(123456789);
    let r = send(app, post_json(business_path, &wrong_type)).await;
    assert_error(&r, 422, "a number where a string belongs");
    assert!(r.json()["errorMessage"]
        .as_str()
        .is_some_and(|m| m.contains("passportNumber")));
    let mut missing = clean_applicant();
    missing["passportExpiryDate"] = serde_json::Value::Null;
    let r = send(app, post_json(business_path, &missing)).await;
    assert_error(&r, 422, "missing field");
    assert_eq!(r.json()["errorMessage"], "passportExpiryDate: is required");
    let mut big = clean_applicant();
    big["gender"] = serde_json::json!("x".repeat(70 * 1024));
    let r = send(app, post_json(business_path, &big)).await;
    assert_error(&r, 413, "body over 64 KiB");
    let r = send(
        app,
        post_raw(business_path, "application/json", vec![0xff_u8, 0xfe, 0x00]),
    )
    .await;
    assert_error(&r, 400, "bytes that are not UTF-8 JSON");
}

/// With `KYC_CHAOS_ERROR_RATE=1`, business routes answer 503 but probes, docs and `/version` never do.
pub async fn assert_chaos_spares_probes(app: &Router, business_path: &str) {
    let r = send(app, get(business_path)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(r.json()["errorMessage"]
        .as_str()
        .is_some_and(|m| m.contains("KYC_CHAOS_ERROR_RATE")));
    let r = send(app, post_json(business_path, &clean_applicant())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    for path in [
        "/healthz",
        "/readyz",
        "/version",
        "/api-docs/openapi.json",
        "/swagger-ui/",
    ] {
        assert_eq!(
            send(app, get(path)).await.status,
            StatusCode::OK,
            "{path} is spared"
        );
    }
}
