//! What makes an axum router a KYC service, one concern a module:
//!
//! * [`context`]: the service's identity (`servedBy`), error namespace, chaos knobs and drain flag.
//! * [`extract`]: JSON body and query extractors whose rejections are the service's JSON errors.
//! * [`errors`]: the error body written once per service from an [`crate::error::ApiError`], and the
//!   JSON 404/405.
//! * [`request_log`]: one log line per request (and the 5xx error it answered).
//! * [`chaos`]: the podinfo-style fault knobs on business routes; [`chaos_admin`]: changing them at run
//!   time (`/admin/chaos`, only with `KYC_CHAOS_API=true`).
//! * [`shed`]: load shedding on business routes (`KYC_MAX_CONCURRENT_REQUESTS`, then a fast 503).
//! * [`metrics`]: `/metrics` and the per-request histogram (Prometheus).
//! * [`probes`]: `/healthz`, `/readyz`, `/version`.
//! * [`trace`]: the server span of a request, when traces are on.
//! * [`docs`]: the OpenAPI document's header, and documented aliases of routes; [`responses`]: how the
//!   error answers of extractors, middleware and errors are documented.
//! * [`app`]: all of the above around a service's documented business routes, plus Swagger UI.

pub mod app;
pub mod chaos;
pub mod chaos_admin;
pub mod context;
pub mod docs;
pub mod errors;
pub mod extract;
pub mod metrics;
pub mod probes;
pub mod request_log;
pub mod responses;
pub mod shed;
pub mod trace;

pub use app::assemble;
pub use context::ServiceContext;
pub use extract::{ApiJson, ApiQuery};

/// Requests bodies larger than this are refused with 413.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;
pub const SERVED_BY_HEADER: &str = "x-kyc-served-by";
pub const SCORED_BY_HEADER: &str = "x-kyc-scored-by";
pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";
