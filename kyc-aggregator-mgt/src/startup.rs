//! Builds the application from settings: the gateway client, routes and docs, the listener.

use std::sync::Arc;

use axum::Router;
use kyc_common::domain::today_utc;
use kyc_common::error::AGGREGATOR_ERRORS;
use kyc_common::http::docs::ApiHeader;
use kyc_common::http::{assemble, ServiceContext};
use kyc_common::server::Server;

use crate::configuration::Settings;
use crate::domain::{gateway_metrics, CreditCheckGateway};
use crate::routes::{self, customer::AppState};
use crate::SERVICE_NAME;

const API: ApiHeader = ApiHeader {
    title: SERVICE_NAME,
    version: env!("CARGO_PKG_VERSION"),
    description: "The BankNext KYC API. `GET /kyc/v1/customer` scores a fictional demo applicant, `POST` scores yours. \
The aggregator calls the credit-check service through the mesh's gateway (`KYC_GATEWAY_URL`); `/credit-check/report` is split \
between the basic (v1) and advanced (v2) scorers by the mesh, and every report says which one answered (`servedBy`). \
Errors are `{errorCode, errorMessage, type}`.",
    tags: &[
        ("kyc", "KYC reports"),
        ("probes", "Liveness, readiness, version"),
    ],
};

pub fn state(settings: &Settings) -> Result<AppState, String> {
    let ctx = ServiceContext::new(
        SERVICE_NAME,
        env!("CARGO_PKG_VERSION"),
        AGGREGATOR_ERRORS,
        &settings.common,
    );
    gateway_metrics::describe(&ctx.metrics);
    Ok(AppState {
        ctx,
        gateway: Arc::new(CreditCheckGateway::new(
            settings.gateway_url.clone(),
            settings.outbound_timeout,
            settings.outbound_max_concurrency,
        )?),
        clock: today_utc,
    })
}

pub fn app(state: AppState) -> Router {
    assemble(API.openapi(), routes::router(), state)
}

pub async fn build(settings: Settings) -> Result<Server, String> {
    let state = state(&settings)?;
    tracing::info!(gateway = %state.gateway.base(), "credit checks go through the gateway");
    Server::bind(&settings.common, state, app).await
}
