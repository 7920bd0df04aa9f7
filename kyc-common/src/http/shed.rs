//! Load shedding on the business routes: at most `KYC_MAX_CONCURRENT_REQUESTS` requests are worked on
//! at once; one more is answered at once with 503 and the service's JSON error body, never queued (a
//! queue only turns overload into latency and memory). Probes, docs and `/version` are outside it, so
//! a shedding service still answers its liveness and readiness probes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::context::ServiceContext;
use crate::error::{ApiError, ErrorKind};

/// The permits for requests in flight.
#[derive(Debug)]
pub struct Shed {
    permits: Semaphore,
    limit: usize,
}

impl Shed {
    pub fn new(limit: usize) -> Self {
        Shed {
            permits: Semaphore::new(limit),
            limit,
        }
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.limit.saturating_sub(self.permits.available_permits())
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Middleware: a permit for the request's lifetime, or a 503 at once.
pub async fn shed(State(ctx): State<Arc<ServiceContext>>, req: Request, next: Next) -> Response {
    let Ok(_permit) = ctx.shed.permits.try_acquire() else {
        return ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "over capacity: {} requests in flight (KYC_MAX_CONCURRENT_REQUESTS); retry later",
                ctx.shed.limit
            ),
        )
        .into_response();
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_in_flight() {
        let shed = Shed::new(2);
        assert_eq!(shed.in_flight(), 0);
        let first = shed.permits.try_acquire().expect("one free");
        let _second = shed.permits.try_acquire().expect("two free");
        assert_eq!(shed.in_flight(), 2);
        assert!(shed.permits.try_acquire().is_err(), "the third is refused");
        drop(first);
        assert_eq!(shed.in_flight(), 1);
    }
}
