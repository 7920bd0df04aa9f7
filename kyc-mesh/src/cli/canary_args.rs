//! `kyc-mesh canary`'s flags (Flagger's names) and subcommands.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use crate::canary::model::{CanarySpec, DEFAULT_ROUTE, DEFAULT_VIRTUAL_SERVICE};

use super::chaos::duration;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct CanaryArgs {
    #[command(subcommand)]
    pub(crate) action: Option<CanaryCmd>,
    #[command(flatten)]
    pub(crate) run: CanaryRunArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum CanaryCmd {
    /// Promote the running canary now (100 %): also the answer to a --pause-at gate
    Promote,
    /// Roll the running canary back now (100 % stable)
    Abort,
    /// Phase, weight, failed checks and last figures of the running (or last) canary
    Status {
        /// The status as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub(crate) struct CanaryRunArgs {
    /// The VirtualService holding the weighted route [default: kyc-credit-check; in ambient
    /// mode the HTTPRoute the waypoint applies, when it has a rule named as --route]
    #[arg(long, value_name = "NAME")]
    pub(crate) virtual_service: Option<String>,
    /// The Gateway API HTTPRoute holding the weighted rule instead (ambient mode: the
    /// waypoint's, e.g. kyc-credit-check-canary); --route names its rule
    #[arg(long, value_name = "NAME", conflicts_with_all = ["virtual_service", "cluster"])]
    pub(crate) http_route: Option<String>,
    /// Its http route, or the HTTPRoute's rule, by name (stable = first destination, canary =
    /// second)
    #[arg(long, default_value = DEFAULT_ROUTE)]
    pub(crate) route: String,
    /// Percent added to the canary after each passed check (Flagger's stepWeight)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) step_weight: u32,
    /// The canary's weight after which it is promoted (maxWeight)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) max_weight: u32,
    /// Time between checks (interval), e.g. 10s, 2s, 500ms
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub(crate) interval: Duration,
    /// Failed checks before rollback (threshold)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) threshold: u32,
    /// Minimum request success rate of the canary, percent (request-success-rate)
    #[arg(long, default_value_t = 99.0)]
    pub(crate) min_success_rate: f64,
    /// Maximum p99 latency of the canary (request-duration), e.g. 500ms
    #[arg(long = "max-p99", default_value = "500ms", value_parser = duration)]
    pub(crate) max_p99: Duration,
    /// Fewer requests to the route in an interval = no data = a failed check
    #[arg(long, default_value_t = 20)]
    pub(crate) min_requests: u64,
    /// Also fail a check when the canary's p99 exceeds R times the stable version's
    #[arg(long = "max-p99-ratio", value_name = "R")]
    pub(crate) max_p99_ratio: Option<f64>,
    /// Run the built-in load generator at RPS requests/s through the gateway during the analysis
    #[arg(long, value_name = "RPS", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) load: Option<u32>,
    /// Wait at this canary weight for `kyc-mesh canary promote` or `kyc-mesh canary abort`
    #[arg(long, value_name = "WEIGHT", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) pause_at: Option<u32>,
    /// Write the report as JSON to FILE (parameters, every check, the outcome and its trace
    /// links, the YAML to commit): for CI. `--report` is the same
    #[arg(long = "report-json", visible_alias = "report", value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,
    /// Write the report as one self-contained HTML file (charts of the weight, success rate and
    /// p99 per version with the thresholds, each check's verdict, the trace links, the YAML),
    /// readable offline without scripts: attach it to the change request
    #[arg(long, value_name = "FILE")]
    pub(crate) report_html: Option<PathBuf>,
    /// Edit the route's weights in networking/ in place to the outcome (comments kept)
    #[arg(long)]
    pub(crate) write: bool,
    /// Run against a cluster: Istio's metrics in Prometheus, weights moved with kubectl
    #[arg(long, requires = "prometheus_url")]
    pub(crate) cluster: bool,
    /// Prometheus base URL (cluster mode), e.g. http://127.0.0.1:9090
    #[arg(long, value_name = "URL")]
    pub(crate) prometheus_url: Option<String>,
    /// kubectl context (cluster mode)
    #[arg(long)]
    pub(crate) context: Option<String>,
    /// Namespace of the VirtualService and workloads (cluster mode)
    #[arg(long, default_value = "default")]
    pub(crate) namespace: String,
    /// kubectl program (cluster mode)
    #[arg(long, env = "KUBECTL", default_value = "kubectl")]
    pub(crate) kubectl: PathBuf,
}

impl CanaryRunArgs {
    /// Neither `--virtual-service` nor `--http-route` was given.
    pub(crate) fn route_defaulted(&self) -> bool {
        self.virtual_service.is_none() && self.http_route.is_none()
    }

    pub(crate) fn spec(&self) -> CanarySpec {
        CanarySpec {
            virtual_service: self
                .http_route
                .clone()
                .or_else(|| self.virtual_service.clone())
                .unwrap_or_else(|| DEFAULT_VIRTUAL_SERVICE.into()),
            route: self.route.clone(),
            step_weight: self.step_weight,
            max_weight: self.max_weight,
            interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            threshold: self.threshold,
            min_success_rate: self.min_success_rate,
            max_p99_ms: self.max_p99.as_secs_f64() * 1000.0,
            min_requests: self.min_requests,
            max_p99_ratio: self.max_p99_ratio,
            pause_at: self.pause_at,
            load_rps: self.load,
        }
    }
}
