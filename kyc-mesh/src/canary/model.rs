//! The canary's values: its parameters, each check and its status. Serialisable as they are:
//! the control protocol, the events, `--report` and `status --json` carry them unchanged.

use serde::{Deserialize, Serialize};

use crate::field::FieldError;
use crate::istio::RouteRef;

/// The route the canary moves by default: the case study's split.
pub(crate) const DEFAULT_VIRTUAL_SERVICE: &str = "kyc-credit-check";
pub(crate) const DEFAULT_ROUTE: &str = "credit-check-report";

/// The analysis parameters, with Flagger's names and meanings (`canary-start`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanarySpec {
    pub virtual_service: String,
    pub route: String,
    /// Percent added to the canary per passed check.
    pub step_weight: u32,
    /// The canary's weight after which it is promoted.
    pub max_weight: u32,
    pub interval_ms: u64,
    /// Failed checks before rollback.
    pub threshold: u32,
    /// Percent.
    pub min_success_rate: f64,
    pub max_p99_ms: f64,
    /// Fewer requests to the canary in an interval = no data = a failed check.
    pub min_requests: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ratio: Option<f64>,
    /// Wait for `canary-promote` / `canary-abort` when the canary reaches this weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_at: Option<u32>,
    /// Run the load generator at this rate during the analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_rps: Option<u32>,
}

impl Default for CanarySpec {
    fn default() -> Self {
        CanarySpec {
            virtual_service: DEFAULT_VIRTUAL_SERVICE.into(),
            route: DEFAULT_ROUTE.into(),
            step_weight: 10,
            max_weight: 100,
            interval_ms: 10_000,
            threshold: 2,
            min_success_rate: 99.0,
            max_p99_ms: 500.0,
            min_requests: 20,
            max_p99_ratio: None,
            pause_at: None,
            load_rps: None,
        }
    }
}

impl CanarySpec {
    /// The weighted route it moves.
    pub fn route(&self) -> RouteRef {
        RouteRef::new(&self.virtual_service, &self.route)
    }

    /// Err names the field that makes no sense.
    pub fn validate(&self) -> Result<(), FieldError> {
        let pct = |name: &str, v: u32| {
            if (1..=100).contains(&v) {
                Ok(())
            } else {
                Err(FieldError::new(
                    name,
                    format!("{v} is not a percentage from 1 to 100"),
                ))
            }
        };
        pct("stepWeight", self.step_weight)?;
        pct("maxWeight", self.max_weight)?;
        if self.interval_ms < 100 {
            return Err(FieldError::new(
                "interval",
                format!("{} ms is shorter than 100 ms", self.interval_ms),
            ));
        }
        if self.threshold == 0 {
            return Err(FieldError::new("threshold", "must be at least 1"));
        }
        if !(0.0..=100.0).contains(&self.min_success_rate) {
            return Err(FieldError::new(
                "minSuccessRate",
                format!("{} is not a percentage", self.min_success_rate),
            ));
        }
        if !(self.max_p99_ms.is_finite() && self.max_p99_ms > 0.0) {
            return Err(FieldError::new(
                "maxP99",
                format!("{} ms must be positive", self.max_p99_ms),
            ));
        }
        if let Some(r) = self.max_p99_ratio {
            if !(r.is_finite() && r > 0.0) {
                return Err(FieldError::new(
                    "maxP99Ratio",
                    format!("{r} must be a positive number"),
                ));
            }
        }
        if let Some(p) = self.pause_at {
            pct("pauseAt", p)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Checking every interval, moving the weight.
    Progressing,
    /// At `--pause-at`: waiting for promote or abort.
    Paused,
    /// The canary takes 100 %.
    Promoted,
    /// The stable version takes 100 %.
    RolledBack,
}

impl Phase {
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Promoted | Phase::RolledBack)
    }
}

/// One version's figures over one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionFigures {
    pub host: String,
    /// Every attempt that reached this version, retried ones included.
    pub requests: u64,
    pub successes: u64,
    /// Percent; `None` without requests.
    pub success_rate: Option<f64>,
    /// Milliseconds, upper bound of the histogram bucket holding the 99th percentile.
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    NoData,
}

/// One analysis interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// 1, 2, ...
    pub n: u32,
    /// The canary's weight during the interval.
    pub weight: u32,
    pub stable: VersionFigures,
    pub canary: VersionFigures,
    pub verdict: Verdict,
    /// Why (every failed condition, or what passed).
    pub reason: String,
    /// Failed checks so far (including this one).
    pub failed_checks: u32,
}

/// What `canary status` shows, and the outcome once the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    pub phase: Phase,
    pub spec: CanarySpec,
    pub stable: String,
    pub canary: String,
    /// The canary's weight in force.
    pub weight: u32,
    pub failed_checks: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Check>,
    /// Why the run ended (or paused), for people.
    pub message: String,
    /// Once the run ended on a mesh with the local trace receiver: its failing and slowest
    /// traces, per version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<TraceLinks>,
}

/// One trace a report links to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceLink {
    pub trace_id: String,
    /// The destination host that served it (the stable or the canary).
    pub host: String,
    /// Milliseconds on the route's edge (the gateway to that host).
    pub duration_ms: f64,
    /// Unix milliseconds.
    pub start_ms: u64,
    /// A hop failed (a retried attempt included).
    pub error: bool,
}

/// The traces of a run worth opening: the failing ones (newest first) and the slowest, at
/// most a few of each per version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceLinks {
    pub failing: Vec<TraceLink>,
    pub slowest: Vec<TraceLink>,
    /// Where each opens (`http://localhost:9000/#trace=`), when a dashboard runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_at: Option<String>,
}
