//! The live dashboard `up` serves on 127.0.0.1 (issue 11): the topology with figures per
//! edge, the weighted routes' weights next to the observed split, the versions, the canary,
//! chaos, the load generator, the events, and controls for all of them.
//!
//! - [`collector`]: the one task that reads Envoy's stats, each app instance's `/readyz`, each
//!   sidecar's admin `/ready` (ports from `up`'s status file), `up`'s state and the
//!   configuration generation in force (at most once a second, only while someone looks)
//!   into a [`view::View`] on a `watch` channel;
//! - [`ambient`]: ambient mode's node proxies and waypoints: what the collector reads of them
//!   and how the graph draws them (the scorers' figures from the waypoint's clusters);
//! - [`figures`]: Envoy's cumulative counters → requests/s, success rate and p99 over a window;
//! - [`events`]: the log of `up`'s event bus;
//! - [`api`]: the page, `GET /api/state`, `GET /api/events` (SSE) and the writes, each a
//!   request (`ops::Op`) answered by `up`'s loop exactly like the control socket's ([`input`]
//!   reads the bodies and maps the answers to HTTP);
//! - [`security`]: Host, Origin and the per-start token (403 otherwise).
//!
//! Assets (`assets/`: one HTML, one CSS, one JS; the graph is SVG drawn by the script) are
//! compiled in: no CDN, no network, no JavaScript build.

mod ambient;
mod api;
mod collector;
mod events;
mod figures;
mod input;
mod record;
mod recording;
mod replay;
mod report;
mod security;
mod traces;
mod view;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch, Notify};

use crate::apply::Admin;
use crate::ops::{Calls, MeshEvent};
use crate::snapshot::Snapshot;
use crate::topology::Ports;
use crate::traces::hop::MeshNames;

pub(crate) use recording::RecordingError;
pub(crate) use replay::{replay, ReplayError};

/// The default port (`--dashboard-port`).
pub(crate) const DEFAULT_PORT: u16 = 9000;

/// What the dashboard needs of `up`.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// 0: any free port.
    pub(crate) port: u16,
    pub(crate) ports: Ports,
    pub(crate) state_dir: PathBuf,
    /// networking/ (named in a recording).
    pub(crate) networking: PathBuf,
    /// The store of `up`'s OTLP receiver (`None`: no receiver).
    pub(crate) traces: Option<Arc<crate::traces::store::Store>>,
    /// Where spans go instead, when the user said (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub(crate) traces_elsewhere: Option<String>,
    /// `up --record DIR`.
    pub(crate) record: Option<PathBuf>,
}

/// The running dashboard; stops (server, collector, recorder) when dropped.
pub(crate) struct Dashboard {
    /// `None`: recording only (the port was taken).
    pub(crate) port: Option<u16>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Start the dashboard; `calls` go into `up`'s loop (like the control socket's), `bus` is its
/// event bus, `generations` the configuration generation in force. `None` without a config,
/// or (with a warning) when its port cannot be bound: the mesh runs on without it (and records
/// on without it with `--record`). Err: `--record DIR` cannot record there.
pub(crate) async fn start(
    config: Option<Config>,
    calls: Calls,
    bus: &broadcast::Sender<MeshEvent>,
    generations: watch::Receiver<Arc<Snapshot>>,
) -> Result<Option<Dashboard>, RecordingError> {
    let Some(config) = config else {
        return Ok(None);
    };
    let names = MeshNames::from_topology(&generations.borrow().topology);
    let recording = match &config.record {
        Some(dir) => {
            let meta = recording::Meta {
                format: recording::FORMAT,
                kyc_mesh: env!("CARGO_PKG_VERSION").into(),
                started_ms: events::now_ms(),
                networking: config.networking.display().to_string(),
                entry: names.entry.clone(),
                versions: names.versions.clone(),
            };
            Some(recording::create(dir, &meta)?)
        }
        None => None,
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await {
        Ok(l) => Some(l),
        Err(e) => {
            eprintln!(
                "kyc-mesh: the dashboard cannot listen on 127.0.0.1:{} ({e}); running without it (see --dashboard-port, --no-dashboard)",
                config.port
            );
            if recording.is_none() {
                return Ok(None);
            }
            None
        }
    };
    let port = listener
        .as_ref()
        .map(|l| l.local_addr().map_or(config.port, |a| a.port()));
    let mut tasks = Vec::new();

    let wake = Arc::new(Notify::new());
    let demand = Arc::new(collector::Demand::new(wake.clone()));
    if recording.is_some() {
        // The recorder follows every view: the collector always runs.
        demand
            .always
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let log = Arc::new(Mutex::new(events::Log::default()));
    tasks.push(tokio::spawn(events::follow(
        bus.clone(),
        log.clone(),
        wake.clone(),
    )));
    let topology = generations.borrow().topology.clone();
    let empty = view::build(view::Inputs {
        topology: &topology,
        window: &figures::Window::new(collector::WINDOW),
        envoy_up: false,
        mesh: None,
        ready: &Default::default(),
        sidecars: &Default::default(),
        ambient: None,
        scenario: None,
        scenarios: Vec::new(),
        auth: None,
        checks: Vec::new(),
        events: Vec::new(),
        now_ms: 0,
    });
    let (view_tx, view_rx) = watch::channel(Arc::new(empty));
    let collector = collector::Collector {
        admin: Admin::new(config.ports.admin),
        generations: generations.clone(),
        state_dir: config.state_dir.clone(),
        calls: calls.clone(),
        log,
        demand: demand.clone(),
        view: view_tx,
    };
    tasks.push(tokio::spawn(collector.run()));
    if let Some(w) = recording {
        let store = config.traces.clone();
        tasks.push(tokio::spawn(record::run(w, view_rx.clone(), store, names)));
    }
    let (Some(listener), Some(port)) = (listener, port) else {
        return Ok(Some(Dashboard { port: None, tasks }));
    };

    let token = security::new_token();
    let app = api::App {
        calls,
        view: view_rx,
        demand,
        page: api::page(&token, "live").into(),
        generations,
        traces: config.traces.clone(),
        traces_note: traces::off_note(config.traces_elsewhere.as_deref()).into(),
    };
    let router = api::router(app, security::Guard { port, token });
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("kyc-mesh: the dashboard stopped: {e}");
        }
    }));
    Ok(Some(Dashboard {
        port: Some(port),
        tasks,
    }))
}
