//! What the three KYC services share, and only that.
//!
//! * [`domain`]: the applicant (`KycRequest` of the original) and its validation, the demo applicants,
//!   the credit-check report.
//! * [`error`]: the API error and the original's error body `{errorCode, errorMessage, type}`.
//! * [`configuration`]: defaults → optional file (`KYC_CONFIG_FILE`) → `KYC_*` environment variables,
//!   parsed into types once.
//! * [`telemetry`]: JSON or human log lines.
//! * [`http`]: identity (`servedBy`), extractors, error bodies, request logs, chaos knobs, probes,
//!   Swagger UI: what makes a router a KYC service.
//! * [`server`]: bind, serve, drain and stop; [`connections`]: the accept loop and its limits; [`run`]: a service's `main` and its exit codes;
//!   [`healthcheck`]: `<service> healthcheck`, the probe the containers run.
//! * [`otel`]: OpenTelemetry traces (off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
//! * [`propagation`]: the tracing headers a service in an Istio mesh must forward.
//!
//! The scorers' rules are in the `kyc-scoring` crate.

pub mod configuration;
pub mod connections;
pub mod domain;
pub mod error;
pub mod healthcheck;
pub mod http;
pub mod otel;
pub mod propagation;
pub mod run;
pub mod server;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
