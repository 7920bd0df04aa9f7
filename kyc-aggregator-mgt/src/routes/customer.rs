//! The customer resource, GET and POST: mounted at `/kyc/v1/customer` and at the original's
//! `/ingress/kyc/v1/customer` by [`super::router`].

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRef, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use kyc_common::domain::{ApplicantRequest, Clock, CreditCheckReport, DemoName, DemoQuery};
use kyc_common::error::{ApiError, ErrorBody};
use kyc_common::http::context::Chaos;
use kyc_common::http::{ApiJson, ApiQuery, ServiceContext, SCORED_BY_HEADER};
use kyc_common::otel::Parent;
use serde::Deserialize;
use time::Date;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::{gateway_metrics, CreditCheckGateway, GatewayError, RequestedReport};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub ctx: Arc<ServiceContext>,
    pub gateway: Arc<CreditCheckGateway>,
    pub clock: Clock,
}

/// Which report, and (GET only) which demo applicant.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// `basicReport` → `/credit-check/basic`; `advancedReport` → `/credit-check/advanced`;
    /// `report` or omitted → `/credit-check/report`, which the mesh splits between the two scorers.
    #[serde(rename = "type")]
    #[param(rename = "type", inline, value_type = Option<RequestedReport>, example = "report")]
    pub report_type: Option<String>,
    /// GET only: `alice`, `jonas` or `viktor` (fictional); omitted: one at random.
    #[param(inline, value_type = Option<DemoName>, example = "jonas")]
    pub demo: Option<String>,
}

/// Which report a POST asks for (the applicant is in the body, so there is no `demo`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `basicReport` → `/credit-check/basic`; `advancedReport` → `/credit-check/advanced`;
    /// `report` or omitted → `/credit-check/report`, which the mesh splits between the two scorers.
    #[serde(rename = "type")]
    #[param(rename = "type", inline, value_type = Option<RequestedReport>, example = "report")]
    pub report_type: Option<String>,
}

/// 401, as the mesh answers it (the proxy, not this service: `networking/scenarios/jwt-auth.yaml`).
const UNAUTHORIZED: &str = "Only where the mesh verifies tokens (jwt-auth scenario): the token is \
invalid (expired, not yet valid, unknown issuer or key, bad signature). Envoy's message, plain text, \
e.g. `Jwt is expired`";
const FORBIDDEN_GET: &str = "Only where the mesh verifies tokens (jwt-auth scenario): no token \
(`RBAC: access denied`), or a token for another audience (`Audiences in Jwt are not allowed`). Plain text";
const FORBIDDEN_POST: &str = "Only where the mesh verifies tokens (jwt-auth scenario): no token, or a \
token without scope `kyc.write` or group `kyc-officers` (`RBAC: access denied`), or for another audience. Plain text";

/// Validates the applicant, has it scored through the gateway, answers the scorer's report.
async fn forward(
    state: &AppState,
    report: RequestedReport,
    applicant: &ApplicantRequest,
    headers: &HeaderMap,
    parent: &Parent,
    today: Date,
) -> Result<Response, ApiError> {
    let applicant = applicant.parse(today)?.to_request();
    let started = Instant::now();
    let scored = state
        .gateway
        .score(report, &applicant, headers, parent)
        .await;
    gateway_metrics::record_call(&state.ctx.metrics, report, &scored, started.elapsed());
    let scored = scored?;
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (HeaderName::from_static(SCORED_BY_HEADER), scored.scored_by),
        ],
        scored.body,
    )
        .into_response())
}

/// KYC report for a fictional demo applicant: the browser URL of the original.
///
/// The aggregator POSTs the applicant to the credit-check route that `type` selects, through the gateway
/// (`KYC_GATEWAY_URL`), and answers the scorer's report. `servedBy` in the body (and the
/// `x-kyc-scored-by` header) tells which scorer answered: count them to see the canary split.
#[utoipa::path(get, path = "", tag = "kyc", params(CustomerQuery),
    responses(
        (status = 200, description = "The scorer's report", body = CreditCheckReport,
            headers(("x-kyc-scored-by" = String, description = "service/version/instance of the scorer"))),
        (status = 400, description = "Unknown `type` or demo applicant", body = ErrorBody),
        (status = 401, description = UNAUTHORIZED, content_type = "text/plain", body = String),
        (status = 403, description = FORBIDDEN_GET, content_type = "text/plain", body = String),
        Chaos,
        GatewayError),
    security((), ("bearerAuth" = [])))]
async fn get_customer(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<CustomerQuery>,
    headers: HeaderMap,
    parent: Parent,
) -> Result<Response, ApiError> {
    let report = RequestedReport::parse(query.report_type.as_deref())?;
    let today = (state.clock)();
    let applicant = DemoQuery { demo: query.demo }.applicant(today)?;
    forward(&state, report, &applicant, &headers, &parent, today).await
}

/// KYC report for the posted applicant.
///
/// The applicant is validated here (422 names the field), then POSTed to the credit-check route that
/// `type` selects, through the gateway. A scorer's 4xx is passed on as it is.
#[utoipa::path(post, path = "", tag = "kyc", params(ReportQuery), request_body = ApplicantRequest,
    responses(
        (status = 200, description = "The scorer's report", body = CreditCheckReport,
            headers(("x-kyc-scored-by" = String, description = "service/version/instance of the scorer"))),
        (status = 400, description = "Unknown `type`, a query parameter other than `type`, or malformed JSON", body = ErrorBody),
        ApiJson<ApplicantRequest>,
        (status = 401, description = UNAUTHORIZED, content_type = "text/plain", body = String),
        (status = 403, description = FORBIDDEN_POST, content_type = "text/plain", body = String),
        Chaos,
        GatewayError),
    security((), ("bearerAuth" = [])))]
async fn post_customer(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ReportQuery>,
    headers: HeaderMap,
    parent: Parent,
    ApiJson(applicant): ApiJson<ApplicantRequest>,
) -> Result<Response, ApiError> {
    let report = RequestedReport::parse(query.report_type.as_deref())?;
    let today = (state.clock)();
    forward(&state, report, &applicant, &headers, &parent, today).await
}

/// GET and POST on the resource, at the path it is nested under.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_customer, post_customer))
}
