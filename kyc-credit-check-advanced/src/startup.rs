//! Builds the application from settings: load the reference lists, assemble routes and docs, bind.

use axum::Router;
use kyc_common::http::assemble;
use kyc_common::http::docs::ApiHeader;
use kyc_common::server::Server;
use kyc_scoring::watchlist::Watchlist;
use kyc_scoring::ScorerState;

use crate::configuration::Settings;
use crate::domain::reference::ReferencePaths;
use crate::domain::{AdvancedScorer, ReferenceData};
use crate::{routes, SERVICE_NAME};

const API: ApiHeader = ApiHeader {
    title: SERVICE_NAME,
    version: env!("CARGO_PKG_VERSION"),
    description: "Version 2 of the BankNext credit-check scorer (the canary): the basic rules plus restricted countries, a notices list, \
a fictional bureau (military service, employment, credit use) and suspicious-document heuristics. \
In the mesh, `/credit-check/report` is split between this service and kyc-credit-check-basic. \
Every answer carries `x-kyc-served-by: service/version/instance`; errors are `{errorCode, errorMessage, type}`.",
    tags: kyc_scoring::routes::TAGS,
};

/// The state the routes run with.
pub fn state(settings: &Settings) -> Result<ScorerState, String> {
    let watchlist = Watchlist::load(settings.watchlist_file.as_deref())?;
    let reference = ReferenceData::load(ReferencePaths {
        notices: settings.notices_file.as_deref(),
        restricted_countries: settings.restricted_countries_file.as_deref(),
        bureau: settings.bureau_file.as_deref(),
    })?;
    Ok(ScorerState::new(
        SERVICE_NAME,
        env!("CARGO_PKG_VERSION"),
        &settings.common,
        AdvancedScorer {
            watchlist,
            reference,
        },
    ))
}

/// The whole application for a state (tests build one with their own clock).
pub fn app(state: ScorerState) -> Router {
    assemble(API.openapi(), routes::router(), state)
}

/// Loads the reference lists, builds the application and binds its listener.
pub async fn build(settings: Settings) -> Result<Server, String> {
    let state = state(&settings)?;
    Server::bind(&settings.common, state, app).await
}
