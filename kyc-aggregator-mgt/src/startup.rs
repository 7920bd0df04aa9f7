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
    routes::audit::describe(&ctx);
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

/// The document's header with the bearer scheme the KYC operations accept (Swagger UI's
/// Authorize button): a JWT the mesh verifies under the jwt-auth scenario.
fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    let mut doc = API.openapi();
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "A token the mesh verifies when the jwt-auth scenario is on (`kyc-mesh token` prints one); \
the service itself never sees it, only the verified subject (`x-kyc-subject`). Without the scenario, no token is needed.",
        ))
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme("bearerAuth", SecurityScheme::Http(bearer));
    doc
}

pub fn app(state: AppState) -> Router {
    let audited = routes::router().layer(axum::middleware::from_fn_with_state(
        state.ctx.clone(),
        routes::audit::audit,
    ));
    assemble(openapi(), audited, state)
}

pub async fn build(settings: Settings) -> Result<Server, String> {
    let state = state(&settings)?;
    tracing::info!(gateway = %state.gateway.base(), "credit checks go through the gateway");
    Server::bind(&settings.common, state, app).await
}
