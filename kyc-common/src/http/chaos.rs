//! The chaos knobs, as middleware for business routes: `KYC_CHAOS_DELAY_MS` latency, then a 503 for a
//! `KYC_CHAOS_ERROR_RATE` share of requests. Both can be replaced at run time through
//! [`super::chaos_admin`] when `KYC_CHAOS_API=true`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::context::{Chaos, ServiceContext};
use crate::error::{ApiError, ErrorKind};

pub async fn chaos(State(ctx): State<Arc<ServiceContext>>, req: Request, next: Next) -> Response {
    let Chaos { error_rate, delay } = ctx.chaos.get();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let error_rate = error_rate.get();
    if error_rate > 0.0 && rand::random::<f64>() < error_rate {
        return ApiError::new(
            ErrorKind::Unavailable,
            "injected failure (KYC_CHAOS_ERROR_RATE or /admin/chaos is set on this instance)",
        )
        .into_response();
    }
    next.run(req).await
}
