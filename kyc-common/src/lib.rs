//! What the three KYC services share, and only that.
//!
//! * [`domain`]: the applicant (`KycRequest` of the original), its validation, the credit-check report, the
//!   watchlist and the basic rules that both scorers apply, and the fictional demo applicants.
//! * [`error`]: the original's error body `{errorCode, errorMessage, type}` and the status codes behind it.
//! * [`configuration`]: defaults → optional file (`KYC_CONFIG_FILE`) → `KYC_*` environment variables.
//! * [`telemetry`]: JSON or human log lines.
//! * [`startup`]: identity (`servedBy`), health routes, middleware, Swagger UI, graceful shutdown.
//! * [`scoring`]: the request handling both scorers share (demo or posted applicant → report).
//! * [`propagation`]: the tracing headers a service in an Istio mesh must forward.

pub mod configuration;
pub mod domain;
pub mod error;
pub mod propagation;
pub mod scoring;
pub mod startup;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
