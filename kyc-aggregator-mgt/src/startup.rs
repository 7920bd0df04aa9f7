//! Builds the application from settings: the gateway client, routes and docs, the listener.

use std::sync::Arc;

use axum::Router;
use kyc_common::domain::today_utc;
use kyc_common::error::AGGREGATOR_ERRORS;
use kyc_common::startup::{self as common, Server, ServiceContext};
use utoipa::OpenApi;

use crate::configuration::Settings;
use crate::domain::CreditCheckGateway;
use crate::routes::customer::{self, AppState};
use crate::SERVICE_NAME;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kyc-aggregator-mgt",
        description = "The BankNext KYC API. `GET /kyc/v1/customer` scores a fictional demo applicant, `POST` scores yours. \
The aggregator calls the credit-check service through the mesh's gateway (`KYC_GATEWAY_URL`); `/credit-check/report` is split \
between the basic (v1) and advanced (v2) scorers by the mesh, and every report says which one answered (`servedBy`). \
Errors are `{errorCode, errorMessage, type}`.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "kyc", description = "KYC reports"),
        (name = "probes", description = "Liveness, readiness, version")
    )
)]
struct ApiDoc;

pub fn state(settings: &Settings) -> Result<AppState, String> {
    let gateway = settings.gateway().map_err(|e| e.to_string())?;
    Ok(AppState {
        ctx: ServiceContext::new(
            SERVICE_NAME,
            env!("CARGO_PKG_VERSION"),
            AGGREGATOR_ERRORS,
            &settings.common,
        ),
        gateway: Arc::new(CreditCheckGateway::new(
            gateway,
            settings.outbound_timeout(),
            AGGREGATOR_ERRORS,
        )?),
        clock: today_utc,
    })
}

pub fn app(state: AppState) -> Router {
    common::finish(ApiDoc::openapi(), customer::router(), state)
}

pub async fn build(settings: Settings) -> Result<Server, String> {
    let state = state(&settings)?;
    tracing::info!(gateway = %state.gateway.base(), "credit checks go through the gateway");
    let ctx = state.ctx.clone();
    Server::bind(&settings.common, app(state), ctx).await
}
