//! The automated canary (issue 10): Flagger's analysis loop over one weighted route, generic
//! over where figures come from ([`Metrics`]) and how weights move ([`Actuator`]).
//!
//! - [`model`]: the wire types (spec, checks, status); [`analysis`]: one check, p99 from buckets;
//! - [`run`]: the loop (step, check, pause, promote, roll back);
//! - local mesh: [`envoy_metrics`] (admin stats deltas of the two subset clusters) and the
//!   actuator in `up` (`set-weights` through the same pipeline as an edit); [`load`]: the load
//!   generator;
//! - cluster: [`prometheus`] (Flagger's Istio PromQL) and [`kubectl`] (a JSON patch of the
//!   VirtualService);
//! - [`yaml`]: the YAML to commit and `--write`'s in-place edit of networking/;
//! - [`report`]: the report of a run, as JSON (`--report-json`) or one self-contained HTML
//!   file (`--report-html`, the dashboard's download).

pub(crate) mod analysis;
pub(crate) mod envoy_metrics;
pub(crate) mod kubectl;
pub(crate) mod load;
pub(crate) mod model;
pub(crate) mod prometheus;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod yaml;

use std::future::Future;
use std::time::Duration;

use analysis::Sample;

/// Why an interval has no figures (a check without data), or the weights did not move (the
/// run rolls back). Its text is what the check or the status says.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CanaryError {
    #[error(transparent)]
    Admin(#[from] crate::apply::admin::AdminError),
    #[error("Envoy admin answered {status}: {body}")]
    AdminStatus { status: u16, body: String },
    #[error("Envoy admin stats: {0}")]
    AdminStats(serde_json::Error),
    #[error("{0}")]
    Client(reqwest::Error),
    #[error("Prometheus at {url}: {error}")]
    Prometheus { url: String, error: reqwest::Error },
    #[error("Prometheus answered {status} with no readable JSON: {error}")]
    PrometheusJson {
        status: reqwest::StatusCode,
        error: reqwest::Error,
    },
    #[error("Prometheus refused {query}: {error}")]
    PrometheusRefused { query: String, error: String },
    #[error("Prometheus answer without data")]
    PrometheusNoData,
    #[error("Prometheus value {0:?} is not a number")]
    NotANumber(String),
    #[error("{program}: {error}")]
    Kubectl {
        program: String,
        error: std::io::Error,
    },
    #[error("kubectl patch failed ({status}): {stderr}")]
    KubectlFailed { status: String, stderr: String },
    /// The local mesh did not move the weights (its answer).
    #[error("{0}")]
    Mesh(String),
}

/// Per-version figures over one interval.
pub(crate) trait Metrics {
    /// The interval starts now (e.g. snapshot the counters).
    fn mark(&mut self) -> impl Future<Output = Result<(), CanaryError>> + Send;
    /// The (stable, canary) figures since [`Metrics::mark`]; `interval` is how long that was.
    fn read(
        &mut self,
        interval: Duration,
    ) -> impl Future<Output = Result<(Sample, Sample), CanaryError>> + Send;
}

/// Moves the route's traffic between the two versions.
pub(crate) trait Actuator {
    /// Give the canary `weight` percent (the stable version the rest).
    fn set_weight(&mut self, weight: u32) -> impl Future<Output = Result<(), CanaryError>> + Send;
    /// 100 % stable.
    fn rollback(&mut self) -> impl Future<Output = Result<(), CanaryError>> + Send {
        self.set_weight(0)
    }
    /// 100 % canary.
    fn promote(&mut self) -> impl Future<Output = Result<(), CanaryError>> + Send {
        self.set_weight(100)
    }
}
