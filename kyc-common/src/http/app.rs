//! The whole application of a service around its documented business routes.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware;
use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use super::context::ServiceContext;
use super::{
    chaos, chaos_admin, errors, metrics, probes, request_log, shed, trace, BODY_LIMIT_BYTES,
    OPENAPI_PATH, SERVED_BY_HEADER,
};
use crate::propagation::REQUEST_ID;

/// Load shedding and the chaos knobs on the business routes only, then probes, `/` → Swagger UI, the OpenAPI document
/// (`doc` plus every route's operation), JSON errors (404/405 included), the body limit, request ids,
/// `x-kyc-served-by` and request logs.
pub fn assemble<S>(doc: OpenApi, business: OpenApiRouter<S>, state: S) -> Router
where
    S: Clone + Send + Sync + 'static,
    Arc<ServiceContext>: FromRef<S>,
{
    let ctx = Arc::<ServiceContext>::from_ref(&state);
    let api = OpenApiRouter::with_openapi(doc)
        .merge(business)
        .layer(middleware::from_fn_with_state(ctx.clone(), chaos::chaos))
        .layer(middleware::from_fn_with_state(ctx.clone(), shed::shed));
    let (router, openapi) = api
        .merge(probes::routes())
        .merge(metrics::routes())
        .split_for_parts();
    let served_by = HeaderValue::from_str(&ctx.served_by)
        .unwrap_or_else(|_| HeaderValue::from_static("invalid-identity"));
    let x_request_id = HeaderName::from_static(REQUEST_ID);
    // Runtime chaos only when asked for, and outside the OpenAPI document.
    let router = if ctx.chaos_api {
        router.merge(chaos_admin::routes())
    } else {
        router
    };
    router
        .merge(SwaggerUi::new("/swagger-ui").url(OPENAPI_PATH, openapi))
        .route("/", get(|| async { Redirect::to("/swagger-ui/") }))
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            ctx.clone(),
            errors::write_error_body,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(SERVED_BY_HEADER),
            served_by,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(middleware::from_fn_with_state(
            ctx.clone(),
            request_log::log_request,
        ))
        .layer(middleware::from_fn_with_state(ctx, metrics::track))
        .layer(middleware::from_fn(trace::trace))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}
