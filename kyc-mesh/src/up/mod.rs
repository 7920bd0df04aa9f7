//! `kyc-mesh up`: validate networking/, start the services of the topology and Envoy,
//! reload on edits (see [`reload`]), stop everything cleanly.

mod banner;
mod canary;
mod chaos;
mod control;
mod envoys;
mod fleet;
pub mod layout;
mod live;
mod proxies;
mod reload;
mod report;
mod rollout;
mod scale;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::sync::{broadcast, mpsc};

use crate::control::event::{Event, BUS_CAPACITY};
use crate::control::server::{Call, ControlServer, ServerError};
use crate::envoy::limits::GatewayLimits;
use crate::pipeline;
use crate::prometheus;
use crate::scenario;
use crate::supervise::{self, Backoff, Proc, RestartPolicy};
use crate::topology::{Ports, Topology};

pub use fleet::LOCAL_DRAIN_MS;

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub networking: PathBuf,
    pub scenario: Option<PathBuf>,
    pub ports: Ports,
    pub bin_dir: PathBuf,
    pub envoy: PathBuf,
    pub state_dir: PathBuf,
    /// Services already run elsewhere on the given ports: start only Envoy.
    pub external_services: bool,
    /// Extra environment per service: (binary, KEY, VALUE).
    pub service_env: Vec<(String, String, String)>,
    pub envoy_log_level: String,
    /// `envoy --concurrency`; `None` leaves Envoy's default (one worker per core).
    pub envoy_concurrency: Option<u16>,
    pub ready_timeout: Duration,
    /// The local Prometheus (observability): its binary when one is started, and its port.
    pub prometheus: Option<PathBuf>,
    pub prometheus_port: u16,
    /// Envoy's tracer and access log.
    pub telemetry: crate::envoy::telemetry::Telemetry,
    /// What happens to a service that exits, and the delays between its restarts.
    pub restart: RestartPolicy,
    pub backoff: Backoff,
    pub gateway_limits: GatewayLimits,
    /// The dashboard's port on 127.0.0.1 (0: any free one); `None`: no dashboard. Once
    /// started, the port it listens on (the banner shows it).
    pub dashboard_port: Option<u16>,
    /// Give each workload networking/ injects a sidecar (`--no-sidecars`: edge only).
    pub sidecars: bool,
}

/// The ports `up` was told to listen on: no hidden port may take one of them.
pub(super) fn reserved_ports(o: &UpOptions) -> std::collections::BTreeSet<u16> {
    let p = &o.ports;
    [
        p.aggregator,
        p.basic,
        p.advanced,
        p.gateway,
        p.admin,
        o.prometheus_port,
    ]
    .into_iter()
    .chain(o.dashboard_port)
    .filter(|&port| port != 0)
    .collect()
}

/// Run the mesh until Ctrl-C/SIGTERM (exit code 0) or Envoy's death (non-zero).
pub async fn up(mut o: UpOptions) -> Result<i32> {
    // Validate everything before starting anything.
    let mut scenario = o
        .scenario
        .clone()
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    let mut topology = Topology::new(&o.ports);
    // How many instances of each (then `scale` follows edits).
    let replicas = (!o.external_services)
        .then(|| pipeline::replicas(&o.networking, scenario.as_deref(), &o.ports).ok())
        .flatten();
    if let Some(replicas) = replicas {
        for w in &mut topology.workloads {
            w.replicas = replicas.get(w.name).copied().unwrap_or(1);
        }
    }
    let topology = topology;
    let injected = if o.sidecars && !o.external_services {
        pipeline::injected(&o.networking, scenario.as_deref(), &o.ports).unwrap_or_default()
    } else {
        Default::default()
    };
    let xds_dir = o.state_dir.join(format!("xds-{}", std::process::id()));
    let reserved = reserved_ports(&o);
    let layout = layout::Layout::allocate(&topology, &injected, &reserved, xds_dir.join("certs"))?;
    let no_overrides = crate::weights::Overrides::default();
    let built = pipeline::build_mesh(
        &o.networking,
        scenario.as_deref(),
        &o.ports,
        &layout.plan,
        &no_overrides,
    );
    let mut accepted = match built {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            bail!("networking/ cannot be translated; nothing started");
        }
    };
    for f in &accepted.notes {
        eprintln!("{f}");
    }
    if let Some(l) = accepted.ingress.listeners.first_mut() {
        l.listener.limits = o.gateway_limits;
    }
    check_ports_free(&o, &topology)?;
    scenario::write_state(&o.state_dir, scenario.as_deref())?;
    // A new mesh starts from the files: runtime weight overrides of an earlier run are gone.
    match std::fs::remove_file(crate::weights::path(&o.state_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let _cleanup = RemoveOnDrop(xds_dir.clone());
    let _status = RemoveOnDrop(crate::status::file(&o.state_dir));

    let mut procs: Vec<Proc> = Vec::new();
    let (exits_tx, mut exits) = mpsc::unbounded_channel();
    let (bus, _) = broadcast::channel::<Event>(BUS_CAPACITY);
    let (mut fleet, mut restarts) = fleet::Fleet::new(&o, &topology, &layout, &exits_tx, &bus);
    let (_server, calls, mut control) = control_server(&o.state_dir, &bus).await?;
    // The dashboard sends the same calls as the control socket, into the same loop.
    let dashboard_config = o.dashboard_port.map(|port| crate::dashboard::Config {
        port,
        ports: o.ports,
        networking: o.networking.clone(),
        state_dir: o.state_dir.clone(),
    });
    let dashboard = crate::dashboard::start(dashboard_config, calls.clone(), &bus).await;
    o.dashboard_port = dashboard.as_ref().map(|d| d.port);
    let o = o;
    // Ctrl-C / SIGTERM at any moment (also during start-up) stops everything cleanly.
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let run = async {
        issue_identities(&o.state_dir, &accepted)?;
        fleet.start_all().await?;
        let mut mesh = envoys::start_all(
            &o,
            xds_dir.clone(),
            &accepted,
            &mut fleet,
            &mut procs,
            &exits_tx,
        )
        .await?;
        // With sidecars, the first readiness round of one proxy may have run before another
        // proxy listened: wait for the next one (bounded: a broken endpoint must not block up).
        // A child that exits meanwhile ends the wait: its exit goes back to the channel for the
        // loop (a service is restarted at once, not after the 10 s; an Envoy stops the mesh).
        let settle = o.ready_timeout.min(Duration::from_secs(10));
        if !layout.plan.sidecars.is_empty() {
            tokio::select! {
                healthy = mesh.wait_healthy(settle) => if !healthy {
                    eprintln!("kyc-mesh: some endpoints are still not ready after {settle:?}; see each Envoy's /clusters");
                },
                Some(exit) = exits.recv() => {
                    let _ = exits_tx.send(exit);
                }
            }
        }
        let mut prometheus_id = None;
        if let Some(binary) = &o.prometheus {
            let dir = &o.state_dir;
            let config = prometheus::config_for(&o.networking, scenario.as_deref(), &o.ports, dir)?;
            // Its targets files exist before it starts (then `up`'s loop keeps them current).
            report::write(&report::View {
                o: &o,
                topology: &topology,
                layout: &layout,
                fleet: &fleet,
                mesh: &mesh,
                scenario: scenario.as_deref(),
            });
            let (port, ready) = (o.prometheus_port, o.ready_timeout);
            prometheus_id = Some(
                prometheus::start(binary, port, dir, &config, &mut procs, &exits_tx, ready).await?,
            );
        }
        let live = live::Live::new(
            &o,
            &mut fleet,
            &mut mesh,
            &layout,
            accepted.clone(),
            &mut scenario,
            bus.clone(),
            calls.clone(),
        );
        let running = reload::Running {
            live,
            exits: &mut exits,
            restarts: &mut restarts,
            control: &mut control,
            prometheus_id,
        };
        reload::run(&o, &topology, running).await
    };
    let result = tokio::select! {
        r = run => r,
        _ = sigint.recv() => { println!("\nkyc-mesh: Ctrl-C, stopping"); Ok(0) }
        _ = sigterm.recv() => { println!("kyc-mesh: SIGTERM, stopping"); Ok(0) }
    };
    supervise::stop_all(&mut procs).await;
    fleet.stop_all().await;
    if let Ok(0) = result {
        println!("kyc-mesh: stopped; every child process has exited");
    }
    result
}

/// The control socket for `rollout restart` and the like; a mesh without one still runs.
type Control = (
    Option<ControlServer>,
    mpsc::Sender<Call>,
    mpsc::Receiver<Call>,
);

async fn control_server(state_dir: &Path, bus: &broadcast::Sender<Event>) -> Result<Control> {
    match ControlServer::bind(state_dir, bus.clone()).await {
        Ok((server, calls)) => {
            let tx = server.calls();
            Ok((Some(server), tx, calls))
        }
        Err(e @ ServerError::InUse(_)) => Err(e.into()),
        Err(e) => {
            eprintln!("kyc-mesh: {e}; `rollout restart`, `chaos`, `canary` cannot reach this mesh");
            let (tx, rx) = mpsc::channel(16);
            Ok((None, tx, rx))
        }
    }
}

/// The mesh CA (created on the first start, reused after) signs each proxy's
/// certificate into its directory, before any proxy starts.
fn issue_identities(state_dir: &Path, accepted: &pipeline::Accepted) -> Result<()> {
    let with_identity: Vec<_> = accepted
        .proxies()
        .filter_map(|(_, p)| p.identity.as_ref())
        .collect();
    if with_identity.is_empty() {
        return Ok(());
    }
    let ca = crate::identity::MeshCa::load_or_create(state_dir)?;
    println!(
        "kyc-mesh: mesh CA {} ({}); issuing {} workload certificates",
        ca.root_cert_path().display(),
        if ca.created { "created" } else { "reused" },
        with_identity.len()
    );
    for id in with_identity {
        ca.issue(&id.dir, &id.spiffe)?;
    }
    Ok(())
}

/// Refuse to start when a port we are about to listen on is taken (a previous run, another
/// program), instead of a confusing failure later.
fn check_ports_free(o: &UpOptions, topology: &Topology) -> Result<()> {
    let p = &o.ports;
    let mut wanted = vec![("Envoy gateway", p.gateway), ("Envoy admin", p.admin)];
    if !o.external_services {
        wanted.extend(topology.workloads.iter().map(|w| (w.binary, w.port)));
    }
    // The dashboard's port only has to differ from these: when something else holds it, the mesh
    // runs without the dashboard (see `dashboard::start`).
    if let Some((what, port)) = o
        .dashboard_port
        .and_then(|d| wanted.iter().find(|(_, p)| *p == d && d != 0))
    {
        bail!("port {port} is given twice (for {what} and the dashboard); choose distinct ports");
    }
    let mut seen = std::collections::BTreeSet::new();
    for (what, port) in wanted {
        if !seen.insert(port) {
            bail!("port {port} is given twice (for {what}); choose distinct ports");
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            bail!("port {port} for {what} on 127.0.0.1 is already in use (another kyc-mesh up?); stop it or pick another port (see --help)");
        }
    }
    Ok(())
}

struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = if self.0.is_dir() {
            std::fs::remove_dir_all(&self.0)
        } else {
            std::fs::remove_file(&self.0)
        };
    }
}
