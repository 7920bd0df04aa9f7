//! The probes: `/healthz` (alive), `/readyz` (ready, or draining after SIGTERM), `/version`.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::context::ServiceContext;

/// `/healthz`: the process is alive.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `draining`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `/version`: what is running.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    #[schema(example = "kyc-credit-check-basic")]
    pub service: String,
    /// The deployment version label (`KYC_SERVICE_VERSION`).
    #[schema(example = "v1")]
    pub version: String,
    /// The crate version of the binary.
    #[schema(example = "0.1.0")]
    pub build: String,
    #[schema(example = "kyc-credit-check-basic-7d9c-x2k4p")]
    pub instance: String,
}

/// Liveness probe: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process is alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness probe: 200, or 503 once shutdown has begun so that the mesh stops sending traffic.
/// Depends on nothing outside the process (the aggregator is ready even when the gateway is down).
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, description = "Ready for traffic", body = Health),
    (status = 503, description = "Draining after SIGTERM", body = Health)))]
async fn readyz(State(ctx): State<Arc<ServiceContext>>) -> Response {
    if ctx.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "draining" }),
        )
            .into_response()
    } else {
        Json(Health { status: "ready" }).into_response()
    }
}

/// Service name, deployment version, build and instance.
#[utoipa::path(get, path = "/version", tag = "probes",
    responses((status = 200, description = "What is running", body = VersionInfo)))]
async fn version(State(ctx): State<Arc<ServiceContext>>) -> Json<VersionInfo> {
    Json(VersionInfo {
        service: ctx.identity.service.clone(),
        version: ctx.identity.version.clone(),
        build: ctx.build_version.to_owned(),
        instance: ctx.identity.instance.clone(),
    })
}

/// The three probes, documented.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<ServiceContext>: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(version))
}
