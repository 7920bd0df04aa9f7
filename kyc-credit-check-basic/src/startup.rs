//! Builds the application from settings: load the watchlist, assemble routes and docs, bind.

use axum::Router;
use kyc_common::http::assemble;
use kyc_common::http::docs::ApiHeader;
use kyc_common::server::Server;
use kyc_scoring::watchlist::Watchlist;
use kyc_scoring::ScorerState;

use crate::configuration::Settings;
use crate::domain::BasicScorer;
use crate::{routes, SERVICE_NAME};

const API: ApiHeader = ApiHeader {
    title: SERVICE_NAME,
    version: env!("CARGO_PKG_VERSION"),
    description: "Version 1 of the BankNext credit-check scorer: watchlist (name, passport number), passport validity, age >= 18. \
In the mesh, `/credit-check/report` is split between this service and kyc-credit-check-advanced. \
Every answer carries `x-kyc-served-by: service/version/instance`; errors are `{errorCode, errorMessage, type}`.",
    tags: kyc_scoring::routes::TAGS,
};

/// The state the routes run with.
pub fn state(settings: &Settings) -> Result<ScorerState, String> {
    let watchlist = Watchlist::load(settings.watchlist_file.as_deref())?;
    Ok(ScorerState::new(
        SERVICE_NAME,
        env!("CARGO_PKG_VERSION"),
        &settings.common,
        BasicScorer { watchlist },
    ))
}

/// The whole application for a state (tests build one with their own clock).
pub fn app(state: ScorerState) -> Router {
    assemble(API.openapi(), routes::router(), state)
}

/// Loads reference data, builds the application and binds its listener.
pub async fn build(settings: Settings) -> Result<Server, String> {
    let state = state(&settings)?;
    Server::bind(&settings.common, state, app).await
}
