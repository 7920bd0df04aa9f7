//! Starting `kyc-mesh up`, and stopping it. [`prepare`] checks everything before anything
//! starts: the watcher, the first generation (networking/ read once), where every instance
//! listens, free ports, the state files, the control socket, the dashboard. [`spawn`] starts
//! the processes: the mesh CA's certificates, the service instances, the Envoys (sidecars,
//! then the gateway), Prometheus. [`stop`] ends every child process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use crate::control::server::{ControlServer, ServerError};
use crate::dashboard::Dashboard;
use crate::ops::{self, Call, Calls, MeshEvent, BUS_CAPACITY};
use crate::prometheus;
use crate::scenario;
use crate::snapshot::{Accepted, Sources};
use crate::supervise::{self, Exit, Proc};
use crate::topology::Topology;

use super::ambient::{self, AmbientProcs};
use super::ambient_layout::AmbientLayout;
use super::config::Config;
use super::envoys;
use super::error::UpError;
use super::fleet::Fleet;
use super::layout::Layout;
use super::options::UpOptions;
use super::proxies::Proxies;
use super::report;
use super::watch::Watch;
use super::waypoints::LiveAmbient;

/// Everything checked and allocated; nothing runs yet (but the control socket and the
/// dashboard listen: their requests wait for the loop).
pub(super) struct Prepared {
    pub(crate) o: UpOptions,
    /// The workloads of the first generation, with the replicas `up` runs.
    pub(crate) topology: Topology,
    pub(crate) layout: Layout,
    pub(crate) config: Config,
    /// The first generation's translation, with `up`'s gateway limits.
    pub(crate) accepted: Accepted,
    pub(crate) fleet: Fleet,
    /// Instances whose restart came due (by name).
    pub(crate) restarts: mpsc::UnboundedReceiver<String>,
    /// The gateway Envoy and Prometheus (the sidecars belong to their instances' slots).
    pub(crate) procs: Vec<Proc>,
    pub(crate) exits_tx: mpsc::UnboundedSender<Exit>,
    pub(crate) exits: mpsc::UnboundedReceiver<Exit>,
    pub(crate) bus: broadcast::Sender<MeshEvent>,
    pub(crate) calls: Calls,
    /// The requests of the control socket, the dashboard and the canary, for the loop.
    pub(crate) requests: mpsc::Receiver<Call>,
    pub(crate) watch: Watch,
    /// Ambient mode: the ambient workloads and where their data plane listens.
    pub(crate) ambient: Option<(std::collections::BTreeSet<&'static str>, AmbientLayout)>,
    xds_dir: PathBuf,
    _server: Option<ControlServer>,
    _dashboard: Option<Dashboard>,
    /// `up`'s OTLP receiver (issue 19), when it runs.
    pub(crate) traces: Option<crate::traces::Running>,
    _cleanup: [RemoveOnDrop; 2],
}

/// The processes started.
pub(super) struct Spawned {
    pub(crate) proxies: Proxies,
    /// The local Prometheus, when one runs: its exit is reported, the mesh runs on.
    pub(crate) prometheus_id: Option<usize>,
    /// Ambient mode: the node proxy and the waypoints (an exit stops the mesh).
    pub(crate) ambient: AmbientProcs,
    /// Ambient mode: the waypoints as they run (their routes change live).
    pub(crate) live_ambient: Option<LiveAmbient>,
}

/// Check and allocate everything before starting anything.
pub(super) async fn prepare(mut o: UpOptions) -> Result<Prepared, UpError> {
    let scenario = o
        .scenario
        .clone()
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    o.scenario = scenario.clone();
    // Watching before the first read: an edit made after it is a change the loop sees (a
    // networking/ that cannot be watched cannot be read either: the read says why).
    let mut watch = Watch::start(&o.networking, &o.state_dir);
    if let Ok(w) = &mut watch {
        w.follow(scenario.as_deref());
    }
    let sources = Sources::new(&o.networking);
    let first = sources
        .snapshot(scenario.as_deref(), o.ports)
        .map_err(not_translated)?;
    let mut watch = watch?;
    check_dataplane(&o, &first.ambient)?;
    // How many instances of each (then `scale` follows edits), and which get a sidecar.
    let mut topology = first.topology.clone();
    if o.external_services {
        for w in &mut topology.workloads {
            w.replicas = 1;
        }
    }
    let injected = if o.sidecars && !o.external_services {
        first.injected.clone()
    } else {
        Default::default()
    };
    let xds_dir = o.state_dir.join(format!("xds-{}", std::process::id()));
    let mut layout = Layout::allocate(
        &topology,
        &injected,
        &o.reserved_ports(),
        xds_dir.join("certs"),
    )?;
    layout.plan.edge_only = !o.sidecars || o.external_services;
    let mut accepted = first.translate(&layout.plan).map_err(not_translated)?;
    for f in &accepted.notes {
        eprintln!("{f}");
    }
    if let Some(l) = accepted.ingress.listeners.first_mut() {
        l.listener.limits = o.gateway_limits;
    }
    check_ports_free(&o, &topology)?;
    // Ambient mode (a namespace labelled istio.io/dataplane-mode=ambient): node proxies and
    // waypoints, on ports none of the instances has.
    let ambient = match (o.sidecars && !o.external_services, first.ambient.is_empty()) {
        (true, false) => {
            let mut taken = o.reserved_ports();
            for pod in layout.pods.values().flatten() {
                taken.insert(pod.app);
                taken.extend(
                    pod.sidecar
                        .map(|s| [s.inbound, s.outbound, s.admin])
                        .into_iter()
                        .flatten(),
                );
            }
            AmbientLayout::allocate(
                &first.ambient,
                &topology,
                &layout,
                &accepted,
                &taken,
                o.nodes,
            )?
            .map(|al| (first.ambient.clone(), al))
        }
        _ => None,
    };
    scenario::write_state(&o.state_dir, scenario.as_deref())?;
    watch.watch_state_dir()?;
    // A new mesh starts from the files: runtime weight overrides of an earlier run are gone.
    match std::fs::remove_file(crate::weights::path(&o.state_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let cleanup = [
        RemoveOnDrop(xds_dir.clone()),
        RemoveOnDrop(crate::status::file(&o.state_dir)),
    ];
    // Before the services: they are told where to send their spans.
    let traces = super::traces::start(&mut o, &topology).await;
    let (exits_tx, exits) = mpsc::unbounded_channel();
    let (bus, _) = broadcast::channel::<MeshEvent>(BUS_CAPACITY);
    let (mut fleet, restarts) = Fleet::new(&o, &topology, &layout, &exits_tx, &bus);
    if let Some((_, al)) = &ambient {
        fleet.call_through_node_proxy(al.calls());
    }
    let (calls, requests) = ops::channel();
    let server = control_server(&o.state_dir, &calls, &bus).await?;
    let config = Config::new(sources, first, layout.plan.clone(), &o.state_dir);
    // The dashboard sends the same requests as the control socket, into the same loop.
    let dashboard_config = o.dashboard_port.map(|port| crate::dashboard::Config {
        port,
        ports: o.ports,
        state_dir: o.state_dir.clone(),
        networking: o.networking.clone(),
        traces: traces.as_ref().map(|t| t.store.clone()),
        traces_elsewhere: match o.traces {
            Some(_) => None,
            None => o.telemetry.collector.as_ref().map(|c| c.uri.clone()),
        },
        record: o.record.clone(),
    });
    let dashboard =
        crate::dashboard::start(dashboard_config, calls.clone(), &bus, config.subscribe()).await?;
    o.dashboard_port = dashboard.as_ref().and_then(|d| d.port);
    Ok(Prepared {
        o,
        topology,
        layout,
        config,
        accepted,
        fleet,
        restarts,
        procs: Vec::new(),
        exits_tx,
        exits,
        bus,
        calls,
        requests,
        watch,
        ambient,
        xds_dir,
        _server: server,
        _dashboard: dashboard,
        traces,
        _cleanup: cleanup,
    })
}

/// `--dataplane` against what networking/ (and the scenario) label.
fn check_dataplane(
    o: &UpOptions,
    ambient: &std::collections::BTreeSet<&'static str>,
) -> Result<(), UpError> {
    use super::options::Dataplane;
    let edge_only = !o.sidecars || o.external_services;
    match o.dataplane {
        Some(Dataplane::Ambient) if edge_only => Err(UpError::Ambient(
            "--dataplane ambient runs node proxies beside the services: not with --no-sidecars or --external-services".into(),
        )),
        Some(Dataplane::Ambient) if ambient.is_empty() => Err(UpError::Ambient(format!(
            "--dataplane ambient: no workload is in the ambient data plane; label its namespace {}: ambient (networking/scenarios/ambient.yaml does)",
            crate::ambient::DATAPLANE_MODE
        ))),
        _ if o.nodes > 1 && ambient.is_empty() => Err(UpError::Ambient(
            "--nodes places the instances of ambient mode on node proxies: nothing is ambient here (--dataplane ambient)".into(),
        )),
        Some(Dataplane::Sidecar) if !ambient.is_empty() => Err(UpError::Ambient(format!(
            "--dataplane sidecar, but the namespace of {ambient:?} is labelled {}: ambient; drop the flag or the scenario",
            crate::ambient::DATAPLANE_MODE
        ))),
        _ => Ok(()),
    }
}

/// The first generation does not translate: say why, start nothing.
fn not_translated(r: crate::snapshot::Rejected) -> UpError {
    for line in r.lines() {
        eprintln!("{line}");
    }
    UpError::NotTranslated
}

/// Start the processes: certificates, the service instances, the Envoys, Prometheus.
pub(super) async fn spawn(p: &mut Prepared) -> Result<Spawned, UpError> {
    let o = &p.o;
    issue_identities(&o.state_dir, &p.accepted)?;
    p.fleet.start_all().await?;
    let (ambient, live_ambient) = match &p.ambient {
        Some((workloads, al)) => {
            let dir = p.xds_dir.join("ambient");
            std::fs::create_dir_all(&dir)?;
            ambient::start(
                o,
                al,
                workloads,
                &p.topology,
                &p.layout,
                &p.accepted,
                &dir,
                &mut p.procs,
                &p.exits_tx,
            )
            .await
            .map(|(procs, live)| (procs, Some(live)))?
        }
        None => (AmbientProcs::new(), None),
    };
    let proxies = envoys::start_all(
        o,
        p.xds_dir.clone(),
        &p.accepted,
        &mut p.fleet,
        &mut p.procs,
        &p.exits_tx,
    )
    .await?;
    // With sidecars, the first readiness round of one proxy may have run before another
    // proxy listened: wait for the next one (bounded: a broken endpoint must not block up).
    // A child that exits meanwhile ends the wait: its exit goes back to the channel for the
    // loop (a service is restarted at once, not after the 10 s; an Envoy stops the mesh).
    let settle = o.ready_timeout.min(Duration::from_secs(10));
    if !p.layout.plan.sidecars.is_empty() {
        tokio::select! {
            healthy = proxies.wait_healthy(settle) => if !healthy {
                eprintln!("kyc-mesh: some endpoints are still not ready after {settle:?}; see each Envoy's /clusters");
            },
            Some(exit) = p.exits.recv() => {
                let _ = p.exits_tx.send(exit);
            }
        }
    }
    let mut prometheus_id = None;
    if let Some(binary) = &o.prometheus {
        let dir = &o.state_dir;
        let first = p.config.current();
        let versions = prometheus::service_versions(&first.objects, &first.topology);
        let config = prometheus::config(o.ports.admin, &versions, dir)?;
        // Its targets files exist before it starts (then `up`'s loop keeps them current).
        report::write(&report::View {
            o,
            topology: &p.topology,
            layout: &p.layout,
            fleet: &p.fleet,
            mesh: &proxies,
            scenario: first.scenario(),
            ambient: p.ambient.as_ref().map(|(w, al)| (w, al)),
        });
        let (port, ready) = (o.prometheus_port, o.ready_timeout);
        let exits = &p.exits_tx;
        let id = prometheus::start(binary, port, dir, &config, &mut p.procs, exits, ready).await?;
        prometheus_id = Some(id);
    }
    Ok(Spawned {
        proxies,
        prometheus_id,
        ambient,
        live_ambient,
    })
}

/// Stop every child process: the gateway Envoy and Prometheus, every instance and its
/// sidecar.
pub(super) async fn stop(p: &mut Prepared) {
    supervise::stop_all(&mut p.procs).await;
    p.fleet.stop_all().await;
}

/// The control socket for `rollout restart` and the like; a mesh without one still runs.
async fn control_server(
    state_dir: &Path,
    calls: &Calls,
    bus: &broadcast::Sender<MeshEvent>,
) -> Result<Option<ControlServer>, UpError> {
    match ControlServer::bind(state_dir, calls.clone(), bus.clone()).await {
        Ok(server) => Ok(Some(server)),
        Err(e @ ServerError::InUse(_)) => Err(e.into()),
        Err(e) => {
            eprintln!("kyc-mesh: {e}; `rollout restart`, `chaos`, `canary` cannot reach this mesh");
            Ok(None)
        }
    }
}

/// The mesh CA (created on the first start, reused after) signs each proxy's
/// certificate into its directory, before any proxy starts.
fn issue_identities(state_dir: &Path, accepted: &Accepted) -> Result<(), UpError> {
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
fn check_ports_free(o: &UpOptions, topology: &Topology) -> Result<(), UpError> {
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
        return Err(UpError::DashboardPort {
            port: *port,
            what: what.to_string(),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for (what, port) in wanted {
        let what = what.to_string();
        if !seen.insert(port) {
            return Err(UpError::PortTwice { port, what });
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            return Err(UpError::PortInUse { port, what });
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
