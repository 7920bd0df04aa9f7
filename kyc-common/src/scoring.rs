//! Request handling shared by both scorers: take the posted applicant (or a demo applicant for a GET),
//! validate it, score it with the service's [`Scorer`], answer the report.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::Json;
use serde::Deserialize;
use time::Date;
use utoipa::IntoParams;

use crate::domain::{demo, Applicant, ApplicantRequest, Clock, CreditCheckReport, ServedBy};
use crate::error::{ApiError, ErrorKind};
use crate::startup::{ApiJson, ApiQuery, ServiceContext};

/// A scorer version: the only thing that differs between the basic and the advanced service.
pub trait Scorer: Send + Sync + 'static {
    fn score(&self, applicant: &Applicant, today: Date, served_by: &ServedBy) -> CreditCheckReport;
}

#[derive(Clone, FromRef)]
pub struct ScorerState {
    pub ctx: Arc<ServiceContext>,
    pub scorer: Arc<dyn Scorer>,
    pub clock: Clock,
}

/// The demo applicants' names (for the documentation; see [`demo::DEMO_NAMES`]).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum DemoName {
    Alice,
    Jonas,
    Viktor,
}

/// Which demo applicant a GET scores.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DemoQuery {
    /// `alice` (passes), `jonas` (advanced fails him on credit use) or `viktor` (watchlisted).
    /// Omitted: one of them at random.
    #[param(inline, value_type = Option<DemoName>, example = "alice")]
    pub demo: Option<String>,
}

/// The demo applicant a request names, or a random one; unknown names are a 400.
pub fn pick_demo(
    ctx: &ServiceContext,
    query: &DemoQuery,
    today: Date,
) -> Result<ApplicantRequest, ApiError> {
    match query.demo.as_deref() {
        None => Ok(demo::random(today).1),
        Some(name) => demo::applicant(name, today).ok_or_else(|| {
            ctx.error(
                ErrorKind::BadRequest,
                format!(
                    "demo: unknown demo applicant; use one of {}",
                    demo::DEMO_NAMES.join(", ")
                ),
            )
        }),
    }
}

/// Validates an applicant, answering 422 with the field's name when it does not fit.
pub fn validate(
    ctx: &ServiceContext,
    request: &ApplicantRequest,
    today: Date,
) -> Result<Applicant, ApiError> {
    request
        .parse(today)
        .map_err(|e| ctx.error(ErrorKind::Unprocessable, e.to_string()))
}

fn score(
    state: &ScorerState,
    request: &ApplicantRequest,
) -> Result<Json<CreditCheckReport>, ApiError> {
    let today = (state.clock)();
    let applicant = validate(&state.ctx, request, today)?;
    Ok(Json(state.scorer.score(
        &applicant,
        today,
        &state.ctx.identity,
    )))
}

/// GET: scores a demo applicant.
pub async fn score_demo(
    State(state): State<ScorerState>,
    ApiQuery(query): ApiQuery<DemoQuery>,
) -> Result<Json<CreditCheckReport>, ApiError> {
    let request = pick_demo(&state.ctx, &query, (state.clock)())?;
    score(&state, &request)
}

/// POST: scores the applicant in the body.
pub async fn score_posted(
    State(state): State<ScorerState>,
    ApiJson(request): ApiJson<ApplicantRequest>,
) -> Result<Json<CreditCheckReport>, ApiError> {
    score(&state, &request)
}

/// Declares a scorer's four documented handlers (GET and POST on its own path and on the canary path
/// `/credit-check/report`) and `pub fn router() -> OpenApiRouter<ScorerState>`. The handlers only
/// differ between the two scorers in their path and documentation, so one definition serves both.
#[macro_export]
macro_rules! scorer_routes {
    (path: $path:literal, report: $report:literal, rules: $rules:literal $(,)?) => {
        use axum::extract::State;
        use axum::Json;
        use $crate::domain::{ApplicantRequest, CreditCheckReport};
        use $crate::error::{ApiError, ErrorBody};
        use $crate::scoring::{self, DemoQuery, ScorerState};
        use $crate::startup::{ApiJson, ApiQuery};
        use utoipa_axum::router::OpenApiRouter;
        use utoipa_axum::routes;

        #[doc = concat!("Scores a fictional demo applicant (no body needed: for browsers) with ", $rules, ".")]
        #[utoipa::path(get, path = $path, tag = "credit-check", params(DemoQuery),
            responses(
                (status = 200, description = $report, body = CreditCheckReport),
                (status = 400, description = "Unknown demo applicant or bad query string", body = ErrorBody),
                (status = 503, description = "Injected failure (KYC_CHAOS_ERROR_RATE)", body = ErrorBody)))]
        async fn own_demo(state: State<ScorerState>, query: ApiQuery<DemoQuery>) -> Result<Json<CreditCheckReport>, ApiError> {
            scoring::score_demo(state, query).await
        }

        #[doc = concat!("Scores the posted applicant with ", $rules, ".")]
        #[utoipa::path(post, path = $path, tag = "credit-check", request_body = ApplicantRequest,
            responses(
                (status = 200, description = $report, body = CreditCheckReport),
                (status = 400, description = "Malformed JSON", body = ErrorBody),
                (status = 413, description = "Body over 64 KiB", body = ErrorBody),
                (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
                (status = 422, description = "A field is missing or invalid; the message names it", body = ErrorBody),
                (status = 503, description = "Injected failure (KYC_CHAOS_ERROR_RATE)", body = ErrorBody)))]
        async fn own_posted(state: State<ScorerState>, body: ApiJson<ApplicantRequest>) -> Result<Json<CreditCheckReport>, ApiError> {
            scoring::score_posted(state, body).await
        }

        #[doc = concat!("The canary route, scored here with ", $rules, ". In the mesh the VirtualService `kyc-credit-check` splits it between the basic and the advanced scorer.")]
        #[utoipa::path(get, path = "/credit-check/report", tag = "credit-check", params(DemoQuery),
            responses(
                (status = 200, description = $report, body = CreditCheckReport),
                (status = 400, description = "Unknown demo applicant or bad query string", body = ErrorBody),
                (status = 503, description = "Injected failure (KYC_CHAOS_ERROR_RATE)", body = ErrorBody)))]
        async fn report_demo(state: State<ScorerState>, query: ApiQuery<DemoQuery>) -> Result<Json<CreditCheckReport>, ApiError> {
            scoring::score_demo(state, query).await
        }

        #[doc = concat!("The canary route for a posted applicant, scored here with ", $rules, ".")]
        #[utoipa::path(post, path = "/credit-check/report", tag = "credit-check", request_body = ApplicantRequest,
            responses(
                (status = 200, description = $report, body = CreditCheckReport),
                (status = 400, description = "Malformed JSON", body = ErrorBody),
                (status = 413, description = "Body over 64 KiB", body = ErrorBody),
                (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
                (status = 422, description = "A field is missing or invalid; the message names it", body = ErrorBody),
                (status = 503, description = "Injected failure (KYC_CHAOS_ERROR_RATE)", body = ErrorBody)))]
        async fn report_posted(state: State<ScorerState>, body: ApiJson<ApplicantRequest>) -> Result<Json<CreditCheckReport>, ApiError> {
            scoring::score_posted(state, body).await
        }

        /// The scoring routes, documented.
        pub fn router() -> OpenApiRouter<ScorerState> {
            OpenApiRouter::new()
                .routes(routes!(own_demo, own_posted))
                .routes(routes!(report_demo, report_posted))
        }
    };
}
