//! Builds the application from settings: load the reference lists, assemble routes and docs, bind.

use std::sync::Arc;

use crate::domain::reference::ReferencePaths;
use crate::domain::ReferenceData;
use axum::Router;
use kyc_common::domain::today_utc;
use kyc_common::domain::watchlist::Watchlist;
use kyc_common::error::CREDIT_CHECK_ERRORS;
use kyc_common::scoring::ScorerState;
use kyc_common::startup::{self as common, Server, ServiceContext};
use utoipa::OpenApi;

use crate::configuration::Settings;
use crate::domain::AdvancedScorer;
use crate::{routes, SERVICE_NAME};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kyc-credit-check-advanced",
        description = "Version 2 of the BankNext credit-check scorer (the canary): the basic rules plus restricted countries, a notices list, \
a fictional bureau (military service, employment, credit use) and suspicious-document heuristics. \
In the mesh, `/credit-check/report` is split between this service and kyc-credit-check-basic. \
Every answer carries `x-kyc-served-by: service/version/instance`; errors are `{errorCode, errorMessage, type}`.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "credit-check", description = "Scoring"),
        (name = "probes", description = "Liveness, readiness, version")
    )
)]
struct ApiDoc;

/// The state the routes run with.
pub fn state(settings: &Settings) -> Result<ScorerState, String> {
    let watchlist = Watchlist::load(settings.watchlist_file.as_deref())?;
    let reference = ReferenceData::load(ReferencePaths {
        notices: settings.notices_file.as_deref(),
        restricted_countries: settings.restricted_countries_file.as_deref(),
        bureau: settings.bureau_file.as_deref(),
    })?;
    Ok(ScorerState {
        ctx: ServiceContext::new(
            SERVICE_NAME,
            env!("CARGO_PKG_VERSION"),
            CREDIT_CHECK_ERRORS,
            &settings.common,
        ),
        scorer: Arc::new(AdvancedScorer {
            watchlist,
            reference,
        }),
        clock: today_utc,
    })
}

/// The whole application for a state (tests build one with their own clock).
pub fn app(state: ScorerState) -> Router {
    common::finish(ApiDoc::openapi(), routes::router(), state)
}

/// Loads the reference lists, builds the application and binds its listener.
pub async fn build(settings: Settings) -> Result<Server, String> {
    let state = state(&settings)?;
    let ctx = state.ctx.clone();
    Server::bind(&settings.common, app(state), ctx).await
}
