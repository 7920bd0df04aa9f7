//! The command line: clap types and dispatch. Each command is a few lines that call
//! a configuration generation (`snapshot`), `up`, `split` or the control socket.

mod ask;
mod canary;
mod canary_args;
mod canary_cluster;
mod canary_print;
mod canary_watch;
mod chaos;
mod commands;
mod error;
mod mesh;
mod observe;
mod rollout;
mod token;
mod up_args;
mod weights;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::split;
use crate::topology::{Ports, Topology};
use crate::up::{self, UpOptions};

pub use error::{CliError, Exit};

#[derive(Parser, Debug)]
#[command(
    name = "kyc-mesh",
    version,
    about = "Run the KYC services behind a real Envoy configured from networking/*.yaml (the local Istio canary)",
    long_about = None
)]
pub struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Common {
    /// Directory of Kubernetes + Istio YAML (top-level *.yaml|*.yml are applied, like `kubectl apply -f`)
    #[arg(
        long,
        global = true,
        default_value = "networking",
        env = "KYC_NETWORKING_DIR"
    )]
    networking: PathBuf,
    /// Scenario file whose objects replace those of networking/ with the same kind and name
    #[arg(long, global = true)]
    scenario: Option<PathBuf>,
    /// Local port of kyc-aggregator-mgt
    #[arg(long, global = true, default_value_t = 8080)]
    aggregator_port: u16,
    /// Local port of kyc-credit-check-basic
    #[arg(long, global = true, default_value_t = 8081)]
    basic_port: u16,
    /// Local port of kyc-credit-check-advanced
    #[arg(long, global = true, default_value_t = 8082)]
    advanced_port: u16,
    /// Envoy gateway port (stands for the Istio ingress gateway's port 80)
    #[arg(long, global = true, default_value_t = 8000)]
    gateway_port: u16,
    /// Envoy admin port
    #[arg(long, global = true, default_value_t = 9901)]
    admin_port: u16,
    /// Directory holding the service binaries [default: the directory of this executable]
    #[arg(long, global = true, env = "KYC_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Envoy binary [default: `envoy` on PATH]
    #[arg(long, global = true, env = "KYC_ENVOY_BIN")]
    envoy: Option<PathBuf>,
    /// State directory shared by `up` and `use` [default: $TMPDIR/kyc-mesh-<admin port>]
    #[arg(long, global = true, env = "KYC_MESH_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Cmd {
    /// Start the three services and Envoy, reload on edits, stop everything on Ctrl-C (default)
    Up(UpArgs),
    /// Print the Envoy configuration generated from networking/ (a runnable static bootstrap)
    Render {
        #[arg(long, value_enum, default_value_t = Format::Yaml)]
        format: Format,
    },
    /// Validate networking/ like `istioctl analyze`; exits non-zero on findings
    Check,
    /// Send N requests through the gateway and chart which scorer answered
    Split(SplitArgs),
    /// Switch the scenario of a running `up` (SCENARIO is a file, or `none`)
    Use {
        /// Scenario file, a name from networking/scenarios (e.g. canary-90-10), or `none`
        #[arg(value_name = "SCENARIO")]
        name: String,
    },
    /// Act on the services of a running `up` (same --state-dir), like `kubectl rollout`
    Rollout {
        #[command(subcommand)]
        action: RolloutCmd,
    },
    /// Runtime chaos on a service of a running `up`: fail a share of its requests and/or slow
    /// them down, at once, without a restart (`--off` to stop)
    Chaos(chaos::ChaosArgs),
    /// Automated canary (Flagger's analysis): step the canary's weight while its success rate
    /// and p99 hold, roll back at --threshold failed checks; `promote`, `abort`, `status`
    Canary(canary_args::CanaryArgs),
    /// Show the running mesh: workloads, instances and ports, sidecars, identities, the CA, the scenario
    Status,
    /// Set the weights of a route with several destinations: on the running mesh (a runtime
    /// override, like the dashboard's sliders), or in the networking/ file that holds it
    /// (`--write`, `--print`); `--clear` drops the override
    Weights(weights::WeightsArgs),
    /// Send one request as a workload, through its sidecar and with its identity (like
    /// `kubectl exec deploy/WORKLOAD -c istio-proxy -- curl URL`); prints status and body
    Curl(CurlArgs),
    /// Print a signed JWT for the jwt-auth scenario's issuer (demo key, DEMO ONLY; `--key`
    /// for your own), or the public keys as a JWKS (`--jwks`); needs no running mesh
    Token(token::TokenArgs),
    /// Serve a session recorded with `up --record DIR` in the dashboard, read-only, with a time
    /// slider, pause and speed (no mesh needed: share the directory, review it offline)
    Replay(ReplayArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct ReplayArgs {
    /// The recording's directory
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Port of the dashboard (on 127.0.0.1 only; 0 = any free port)
    #[arg(long, value_name = "PORT", default_value_t = crate::dashboard::DEFAULT_PORT)]
    dashboard_port: u16,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CurlArgs {
    /// The workload to send as (a Deployment of networking/ with a sidecar)
    #[arg(long, value_name = "WORKLOAD")]
    from: String,
    /// e.g. http://kyc-credit-check-basic:8080/credit-check/basic
    url: String,
    /// HTTP method
    #[arg(short = 'X', long = "request", default_value = "GET")]
    method: String,
    /// Extra header, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Request body
    #[arg(short = 'd', long = "data")]
    body: Option<String>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RolloutCmd {
    /// Replace SERVICE's instance without failing a request: start a new one, wait until
    /// ready, move the gateway's traffic to it, drain and stop the old one
    Restart {
        #[arg(value_name = "SERVICE")]
        service: String,
    },
}

#[derive(clap::Args, Debug, Default)]
pub(crate) struct UpArgs {
    /// Do not start the services: they already run on the given ports
    #[arg(long)]
    external_services: bool,
    /// Extra environment for one service, e.g. kyc-credit-check-advanced:KYC_CHAOS_ERROR_RATE=0.5
    #[arg(long = "service-env", value_name = "SERVICE:KEY=VALUE")]
    service_env: Vec<String>,
    /// Envoy log level
    #[arg(long, default_value = "warning")]
    envoy_log_level: String,
    /// Seconds to wait for each service and Envoy to become ready
    #[arg(long, default_value_t = 30)]
    ready_timeout: u64,
    /// Envoy worker threads (`envoy --concurrency`) [default: Envoy's, one per core]. On a 2-core
    /// laptop that also runs the services and a load generator, 1 costs less CPU per request
    /// (see BENCHMARKS.md)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    envoy_concurrency: Option<u16>,
    /// Edge only: no sidecars, whatever networking/ injects (the services listen on their
    /// contract ports behind the ingress gateway alone)
    #[arg(long)]
    no_sidecars: bool,
    /// The data plane [default: as networking/ labels it]
    #[arg(long, value_enum, value_name = "MODE")]
    dataplane: Option<up_args::DataplaneArg>,
    /// Ambient mode: node proxies to spread the instances over (cross-node HBONE)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    nodes: u8,
    #[command(flatten)]
    observe: observe::ObserveArgs,
    #[command(flatten)]
    supervision: up_args::SupervisionArgs,
    #[command(flatten)]
    gateway: up_args::GatewayArgs,
    #[command(flatten)]
    dashboard: up_args::DashboardArgs,
}

#[derive(clap::Args, Debug)]
pub(crate) struct SplitArgs {
    /// Number of requests
    #[arg(default_value_t = 100)]
    n: usize,
    /// Entry point: the gateway (as in the cluster) or the aggregator directly
    #[arg(long, value_enum, default_value_t = split::Via::Gateway)]
    via: split::Via,
    /// Requests in flight at once
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Query type: report (the canary), basicReport or advancedReport
    #[arg(long, default_value = "report")]
    r#type: String,
    /// Send to this URL instead, as given (any host: a cluster's gateway, e.g.
    /// http://192.168.49.2:31380/kyc/v1/customer?type=report); --via and --type then do not apply
    #[arg(long, value_name = "URL", conflicts_with_all = ["via", "type"])]
    url: Option<split::Target>,
    /// Time each request may take, connect to last byte (`10s`, `500ms`)
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = chaos::duration)]
    timeout: Duration,
    /// Send `Authorization: Bearer TOKEN` (e.g. `$(kyc-mesh token)`); without it, requests to
    /// the local mesh carry a demo token when its configuration verifies the demo issuer (jwt-auth)
    #[arg(long, value_name = "TOKEN", env = "KYC_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Format {
    Yaml,
    Json,
}

impl Common {
    pub(crate) fn ports(&self) -> Ports {
        Ports {
            aggregator: self.aggregator_port,
            basic: self.basic_port,
            advanced: self.advanced_port,
            gateway: self.gateway_port,
            admin: self.admin_port,
        }
    }
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("kyc-mesh-{}", self.admin_port)))
    }
}

/// Ctrl-C or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Run one command: how it ended, or the error that ended it (its exit code is
/// [`CliError::exit_code`]).
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    let c = cli.common.clone();
    match cli.cmd.unwrap_or(Cmd::Up(UpArgs {
        envoy_log_level: "warning".into(),
        ready_timeout: 30,
        observe: observe::ObserveArgs::defaults(),
        ..UpArgs::default()
    })) {
        Cmd::Check => commands::check(&c),
        Cmd::Render { format } => commands::render(&c, format),
        Cmd::Split(a) => {
            let local = a.url.is_none();
            let target = match a.url {
                Some(url) => url,
                None => {
                    let port = match a.via {
                        split::Via::Gateway => c.gateway_port,
                        // The aggregator is the topology's entry point (the browser's URL).
                        split::Via::Aggregator => Topology::new(&c.ports()).entry().port,
                    };
                    split::Target::local(port, &a.r#type)
                        .map_err(|e| CliError::Usage(format!("--type: {e}")))?
                }
            };
            let token = match a.token.filter(|t| !t.is_empty()) {
                Some(t) => Some(t),
                None if local => split::local_token(&c.networking, &c.state_dir(), c.ports()),
                None => None,
            };
            Ok(Exit::of(
                split::run(&target, a.n, a.concurrency, a.timeout, token.as_deref()).await?,
            ))
        }
        Cmd::Use { name } => commands::use_scenario(&c, &name).await,
        Cmd::Status => mesh::show(&c),
        Cmd::Curl(a) => {
            let args = mesh::CurlArgs {
                from: &a.from,
                url: &a.url,
                method: &a.method,
                headers: &a.headers,
                body: a.body.as_deref(),
            };
            mesh::curl(&c, args).await
        }
        Cmd::Rollout {
            action: RolloutCmd::Restart { service },
        } => rollout::restart(&c, &service).await,
        Cmd::Chaos(a) => chaos::run(&c, &a).await,
        Cmd::Canary(a) => canary::run(&c, &a).await,
        Cmd::Weights(a) => weights::run(&c, &a).await,
        Cmd::Replay(a) => {
            crate::dashboard::replay(&a.dir, a.dashboard_port, stopped()).await?;
            Ok(Exit::Success)
        }
        Cmd::Token(a) => token::run(&a),
        Cmd::Up(a) => {
            let bin_dir = match &c.bin_dir {
                Some(d) => d.clone(),
                None => std::env::current_exe()?
                    .parent()
                    .map(Path::to_path_buf)
                    .ok_or(CliError::NoBinDir)?,
            };
            let envoy = crate::supervise::find_envoy(c.envoy.as_deref())?;
            let dataplane = a.dataplane.map(up_args::DataplaneArg::dataplane);
            // `--dataplane ambient` alone runs the ambient scenario.
            let scenario = match (&c.scenario, dataplane) {
                (None, Some(up::Dataplane::Ambient)) => {
                    crate::scenario::resolve(&c.networking, "ambient")
                        .map_err(|e| CliError::Usage(e.to_string()))?
                }
                (given, _) => given.clone(),
            };
            let telemetry = a.observe.telemetry()?;
            let stopped = up::up(UpOptions {
                networking: c.networking.clone(),
                scenario,
                ports: c.ports(),
                bin_dir,
                envoy,
                state_dir: c.state_dir(),
                external_services: a.external_services,
                service_env: commands::parse_service_env(&a.service_env)?,
                envoy_log_level: a.envoy_log_level,
                envoy_concurrency: a.envoy_concurrency,
                ready_timeout: Duration::from_secs(a.ready_timeout),
                prometheus: a.observe.prometheus(),
                prometheus_port: a.observe.prometheus_port,
                traces: a.observe.receiver(&telemetry),
                telemetry,
                restart: a.supervision.policy(),
                backoff: a.supervision.backoff(),
                gateway_limits: a.gateway.limits(),
                dashboard_port: a.dashboard.port(),
                record: a.dashboard.record.clone(),
                sidecars: !a.no_sidecars,
                dataplane,
                nodes: usize::from(a.nodes),
            })
            .await?;
            Ok(Exit::of(stopped == up::Stopped::Asked))
        }
    }
}
