//! kyc-mesh: the KYC services behind a real Envoy configured from networking/*.yaml.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use kyc_mesh::mesh::{self, UpOptions};
use kyc_mesh::translate::{self, Ports, Severity};
use kyc_mesh::{model, split, xds};

#[derive(Parser, Debug)]
#[command(
    name = "kyc-mesh",
    version,
    about = "Run the KYC services behind a real Envoy configured from networking/*.yaml (the local Istio canary)",
    long_about = None
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(clap::Args, Debug, Clone)]
struct Common {
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
enum Cmd {
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
}

#[derive(clap::Args, Debug, Default)]
struct UpArgs {
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
}

#[derive(clap::Args, Debug)]
struct SplitArgs {
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
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Format {
    Yaml,
    Json,
}

impl Common {
    fn ports(&self) -> Ports {
        Ports {
            aggregator: self.aggregator_port,
            basic: self.basic_port,
            advanced: self.advanced_port,
            gateway: self.gateway_port,
            admin: self.admin_port,
        }
    }
    fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("kyc-mesh-{}", self.admin_port)))
    }
}

fn parse_service_env(items: &[String]) -> Result<Vec<(String, String, String)>> {
    items
        .iter()
        .map(|item| {
            let (service, kv) = item
                .split_once(':')
                .with_context(|| format!("--service-env {item:?}: expected SERVICE:KEY=VALUE"))?;
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--service-env {item:?}: expected SERVICE:KEY=VALUE"))?;
            if !translate::BINARIES.contains(&service) {
                bail!(
                    "--service-env {item:?}: unknown service (one of {})",
                    translate::BINARIES.join(", ")
                );
            }
            Ok((service.to_string(), k.to_string(), v.to_string()))
        })
        .collect()
}

fn check(c: &Common) -> Result<i32> {
    let objects = match model::load(&c.networking, c.scenario.as_deref()) {
        Ok(o) => o,
        Err(errors) => {
            for e in &errors {
                println!("Error {e}");
            }
            println!("{} finding(s)", errors.len());
            return Ok(1);
        }
    };
    let cfg = translate::translate(&objects, &c.ports());
    let mut findings = cfg.findings.clone();
    findings.sort_by_key(|f| f.severity);
    let counted = findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .count();
    for f in &findings {
        println!("{f}");
    }
    if counted == 0 {
        println!(
            "✔ No validation issues found in {} ({} objects{})",
            c.networking.display(),
            objects.len(),
            c.scenario
                .as_ref()
                .map(|s| format!(", scenario {}", s.display()))
                .unwrap_or_default()
        );
        Ok(0)
    } else {
        println!("{counted} finding(s)");
        Ok(1)
    }
}

fn render(c: &Common, format: Format) -> Result<i32> {
    match mesh::build(&c.networking, c.scenario.as_deref(), &c.ports()) {
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            Ok(1)
        }
        Ok(cfg) => {
            let boot = cfg.static_bootstrap(c.admin_port);
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&boot)?),
                Format::Yaml => print!("{}", serde_norway::to_string(&boot)?),
            }
            Ok(0)
        }
    }
}

async fn use_scenario(c: &Common, scenario: &str) -> Result<i32> {
    let path = if scenario == "none" {
        None
    } else {
        let p = Path::new(scenario);
        let p = if p.exists() {
            p.to_path_buf()
        } else {
            // Allow `use delay` for networking/scenarios/delay.yaml.
            let candidates = ["yaml", "yml"].map(|e| {
                c.networking
                    .join("scenarios")
                    .join(format!("{scenario}.{e}"))
            });
            match candidates.into_iter().find(|p| p.exists()) {
                Some(p) => p,
                None => bail!(
                    "scenario {scenario:?} not found (give a file or a name from {}/scenarios)",
                    c.networking.display()
                ),
            }
        };
        Some(std::path::absolute(&p)?)
    };
    if let Err(errors) = mesh::build(&c.networking, path.as_deref(), &c.ports()) {
        for e in errors {
            eprintln!("{e}");
        }
        eprintln!("kyc-mesh: scenario not switched");
        return Ok(1);
    }
    let admin = xds::Admin::new(c.admin_port);
    let before = match (
        admin.counters(xds::RDS_STAT).await,
        admin.counters(xds::CDS_STAT).await,
    ) {
        (Ok(r), Ok(c)) => Some((r, c)),
        _ => None,
    };
    mesh::write_scenario_state(&c.state_dir(), path.as_deref())?;
    let shown = path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none (networking/ only)".into());
    let Some((rds, cds)) = before else {
        println!(
            "kyc-mesh: scenario set to {shown}; no mesh answers on admin port {} (it applies when `up` runs)",
            c.admin_port
        );
        return Ok(0);
    };
    // Routes or clusters move when the running mesh has applied the switch.
    let end = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = admin.counters(xds::RDS_STAT).await.unwrap_or(rds);
        let k = admin.counters(xds::CDS_STAT).await.unwrap_or(cds);
        if r.success > rds.success || k.success > cds.success {
            println!("kyc-mesh: the running mesh now uses scenario {shown}");
            break;
        }
        if r.rejected > rds.rejected || k.rejected > cds.rejected {
            println!("kyc-mesh: Envoy rejected scenario {shown}; see the `up` output");
            return Ok(1);
        }
        if std::time::Instant::now() > end {
            println!("kyc-mesh: scenario set to {shown} (no routing change to apply, or `up` runs with another --state-dir)");
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(0)
}

async fn run(cli: Cli) -> Result<i32> {
    let c = cli.common.clone();
    match cli.cmd.unwrap_or(Cmd::Up(UpArgs {
        envoy_log_level: "warning".into(),
        ready_timeout: 30,
        ..UpArgs::default()
    })) {
        Cmd::Check => check(&c),
        Cmd::Render { format } => render(&c, format),
        Cmd::Split(a) => {
            let port = match a.via {
                split::Via::Gateway => c.gateway_port,
                split::Via::Aggregator => c.aggregator_port,
            };
            split::run(port, a.n, a.concurrency, &a.r#type).await
        }
        Cmd::Use { name } => use_scenario(&c, &name).await,
        Cmd::Up(a) => {
            let bin_dir = match &c.bin_dir {
                Some(d) => d.clone(),
                None => std::env::current_exe()?
                    .parent()
                    .map(Path::to_path_buf)
                    .context("cannot find the directory of kyc-mesh")?,
            };
            let envoy = mesh::find_envoy(c.envoy.clone())?;
            mesh::up(UpOptions {
                networking: c.networking.clone(),
                scenario: c.scenario.clone(),
                ports: c.ports(),
                bin_dir,
                envoy,
                state_dir: c.state_dir(),
                external_services: a.external_services,
                service_env: parse_service_env(&a.service_env)?,
                envoy_log_level: a.envoy_log_level,
                envoy_concurrency: a.envoy_concurrency,
                ready_timeout: Duration::from_secs(a.ready_timeout),
            })
            .await
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyc-mesh: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("kyc-mesh: {e:#}");
            ExitCode::from(2)
        }
    }
}
