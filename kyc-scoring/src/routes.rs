//! The scoring routes both scorers answer: `GET` scores a demo applicant (for browsers), `POST` the
//! posted applicant, on the scorer's own path and on the canary path `/credit-check/report`.

use axum::extract::State;
use axum::Json;
use kyc_common::domain::{ApplicantRequest, CreditCheckReport, DemoQuery};
use kyc_common::error::{ApiError, ErrorBody};
use kyc_common::http::context::Chaos;
use kyc_common::http::docs::edit_operations;
use kyc_common::http::{ApiJson, ApiQuery};
use time::Date;
use utoipa::openapi::RefOr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::scorer::ScorerState;

/// The canary route: in the mesh the VirtualService `kyc-credit-check` splits it between the basic and
/// the advanced scorer.
pub const REPORT_PATH: &str = "/credit-check/report";

/// The tags of a scorer's OpenAPI document.
pub const TAGS: &[(&str, &str)] = &[
    ("credit-check", "Scoring"),
    ("probes", "Liveness, readiness, version"),
];

/// A scorer's documented routes.
pub type ScoringRoutes = OpenApiRouter<ScorerState>;

/// Scores a fictional demo applicant (no body needed: for browsers).
#[utoipa::path(get, path = "", tag = "credit-check", params(DemoQuery),
    responses(
        (status = 200, description = "The report", body = CreditCheckReport),
        (status = 400, description = "Unknown demo applicant or bad query string", body = ErrorBody),
        Chaos))]
async fn demo(
    State(state): State<ScorerState>,
    ApiQuery(query): ApiQuery<DemoQuery>,
) -> Result<Json<CreditCheckReport>, ApiError> {
    let today = (state.clock)();
    score(&state, &query.applicant(today)?, today)
}

/// Scores the posted applicant.
#[utoipa::path(post, path = "", tag = "credit-check", request_body = ApplicantRequest,
    responses(
        (status = 200, description = "The report", body = CreditCheckReport),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        ApiJson<ApplicantRequest>,
        Chaos))]
async fn posted(
    State(state): State<ScorerState>,
    ApiJson(request): ApiJson<ApplicantRequest>,
) -> Result<Json<CreditCheckReport>, ApiError> {
    score(&state, &request, (state.clock)())
}

fn score(
    state: &ScorerState,
    request: &ApplicantRequest,
    today: Date,
) -> Result<Json<CreditCheckReport>, ApiError> {
    let applicant = request.parse(today)?;
    let report = state.scorer.score(&applicant, today, &state.ctx.identity);
    crate::metrics::record_report(&state.ctx.metrics, &report);
    Ok(Json(report))
}

/// GET and POST on `own_path` (operation ids `own_demo`, `own_posted`) and on [`REPORT_PATH`]
/// (`report_demo`, `report_posted`); `report` describes the 200 answer (`BASIC report`).
pub fn router(own_path: &str, report: &str) -> ScoringRoutes {
    let mounted = |prefix: &str| {
        edit_operations(
            OpenApiRouter::new().routes(routes!(demo, posted)),
            |_, op| {
                op.operation_id = op.operation_id.as_ref().map(|id| format!("{prefix}_{id}"));
                if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
                    ok.description = report.to_owned();
                }
            },
        )
    };
    OpenApiRouter::new()
        .nest(own_path, mounted("own"))
        .nest(REPORT_PATH, mounted("report"))
}
