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

/// Which demo applicant a GET scores.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DemoQuery {
    /// `alice` (passes), `jonas` (advanced fails him on credit use) or `viktor` (watchlisted).
    /// Omitted: one of them at random.
    #[param(example = "alice")]
    pub demo: Option<String>,
}

/// The demo applicant a request names, or a random one; unknown names are a 400.
pub fn pick_demo(
    ctx: &ServiceContext,
    query: &DemoQuery,
    today: Date,
) -> Result<ApplicantRequest, ApiError> {
    match query.demo.as_deref() {
        None | Some("") => Ok(demo::random(today).1),
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
