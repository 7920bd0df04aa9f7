//! `/credit-check/basic` and `/credit-check/report`, GET (demo applicant) and POST (posted applicant).

use axum::extract::State;
use axum::Json;
use kyc_common::domain::{ApplicantRequest, CreditCheckReport};
use kyc_common::error::ApiError;
use kyc_common::error::ErrorBody;
use kyc_common::scoring::{self, DemoQuery, ScorerState};
use kyc_common::startup::ApiJson;
use kyc_common::startup::ApiQuery;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Scores a fictional demo applicant with the basic rules (for browsers: no body needed).
#[utoipa::path(get, path = "/credit-check/basic", tag = "credit-check", params(DemoQuery),
    responses(
        (status = 200, description = "BASIC report", body = CreditCheckReport),
        (status = 400, description = "Unknown demo applicant or bad query string", body = ErrorBody),
        (status = 503, description = "Injected failure (KYC_CHAOS_ERROR_RATE)", body = ErrorBody)))]
async fn basic_demo(
    state: State<ScorerState>,
    query: ApiQuery<DemoQuery>,
) -> Result<Json<CreditCheckReport>, ApiError> {
    scoring::score_demo(state, query).await
}

/// Scores the posted applicant with the basic rules: watchlist (name, passport number), passport
/// expired, younger than 18.
#[utoipa::path(post, path = "/credit-check/basic", tag = "credit-check", request_body = ApplicantRequest,
    responses(
        (status = 200, description = "BASIC report", body = CreditCheckReport),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid; the message names it", body = ErrorBody),
        (status = 503, description = "Injected failure (KYC_CHAOS_ERROR_RATE)", body = ErrorBody)))]
async fn basic_posted(
    state: State<ScorerState>,
    body: ApiJson<ApplicantRequest>,
) -> Result<Json<CreditCheckReport>, ApiError> {
    scoring::score_posted(state, body).await
}

/// The canary route: in the mesh, the VirtualService splits it between basic and advanced. Here it
/// answers like `GET /credit-check/basic`.
#[utoipa::path(get, path = "/credit-check/report", tag = "credit-check", params(DemoQuery),
    responses(
        (status = 200, description = "BASIC report", body = CreditCheckReport),
        (status = 400, description = "Unknown demo applicant or bad query string", body = ErrorBody),
        (status = 503, description = "Injected failure (KYC_CHAOS_ERROR_RATE)", body = ErrorBody)))]
async fn report_demo(
    state: State<ScorerState>,
    query: ApiQuery<DemoQuery>,
) -> Result<Json<CreditCheckReport>, ApiError> {
    scoring::score_demo(state, query).await
}

/// The canary route for a posted applicant; answers like `POST /credit-check/basic`.
#[utoipa::path(post, path = "/credit-check/report", tag = "credit-check", request_body = ApplicantRequest,
    responses(
        (status = 200, description = "BASIC report", body = CreditCheckReport),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid; the message names it", body = ErrorBody),
        (status = 503, description = "Injected failure (KYC_CHAOS_ERROR_RATE)", body = ErrorBody)))]
async fn report_posted(
    state: State<ScorerState>,
    body: ApiJson<ApplicantRequest>,
) -> Result<Json<CreditCheckReport>, ApiError> {
    scoring::score_posted(state, body).await
}

/// The scoring routes, documented.
pub fn router() -> OpenApiRouter<ScorerState> {
    OpenApiRouter::new()
        .routes(routes!(basic_demo, basic_posted))
        .routes(routes!(report_demo, report_posted))
}
