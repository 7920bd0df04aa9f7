//! The ONE task that reads the mesh for every open page: at most once a second it reads
//! Envoy's stats (one `/stats/prometheus` request), each app instance's `/readyz`, each
//! sidecar's admin `/ready` (their ports from `up`'s status file, `crate::status`), in
//! ambient mode each waypoint's stats and each node proxy's `/healthz` ([`ambient`]), `up`'s
//! `state` (a request into `up`'s loop, like the control socket's) and the configuration
//! generation in force (its scenario, the scenarios offered, the workloads), and publishes a
//! [`View`] on a `watch` channel that every page's event stream and `GET /api/state` share.
//! Nobody watching (no event stream, no read for [`IDLE_AFTER`]) → it reads nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::{watch, Notify};

use crate::apply::Admin;
use crate::ops::{Calls, MeshState, Op, Outcome};
use crate::snapshot::Snapshot;
use crate::status::MeshStatus;
use crate::topology::{Topology, Workload};

use super::ambient::{self, Ambient};
use super::events::{now_ms, Log};
use super::figures::{self, Window};
use super::view::{self, AuthView, Inputs, InstanceCount, SidecarView, View};

/// The shortest time between two readings of Envoy.
pub(super) const PERIOD: Duration = Duration::from_secs(1);
/// The window the figures cover.
pub(super) const WINDOW: Duration = Duration::from_secs(10);
/// With no event stream open, reading stops this long after the last `GET /api/state`.
pub(super) const IDLE_AFTER: Duration = Duration::from_secs(15);

/// What the web handlers share with the collector.
pub(super) struct Demand {
    /// Open event streams.
    pub(crate) streams: AtomicUsize,
    /// The last `GET /api/state`.
    pub(crate) last_read: Mutex<Instant>,
    /// Wakes the collector early (a read while idle, an event).
    pub(crate) wake: Arc<Notify>,
    /// Collect whoever looks (`up --record`: the recorder follows every view).
    pub(crate) always: AtomicBool,
}

impl Demand {
    pub(super) fn new(wake: Arc<Notify>) -> Self {
        Demand {
            streams: AtomicUsize::new(0),
            last_read: Mutex::new(Instant::now()),
            wake,
            always: AtomicBool::new(false),
        }
    }

    fn wanted(&self) -> bool {
        self.always.load(Ordering::Relaxed)
            || self.streams.load(Ordering::Relaxed) > 0
            || self
                .last_read
                .lock()
                .map(|t| t.elapsed() < IDLE_AFTER)
                .unwrap_or(true)
    }

    /// A read: keep collecting, and collect now if the view is stale.
    pub(super) fn read(&self) {
        if let Ok(mut t) = self.last_read.lock() {
            *t = Instant::now();
        }
    }
}

pub(super) struct Collector {
    pub(crate) admin: Admin,
    /// The configuration generation in force.
    pub(crate) generations: watch::Receiver<Arc<Snapshot>>,
    pub(crate) state_dir: PathBuf,
    pub(crate) calls: Calls,
    pub(crate) log: Arc<Mutex<Log>>,
    pub(crate) demand: Arc<Demand>,
    pub(crate) view: watch::Sender<Arc<View>>,
}

/// See `misses` in [`Collector::run`].
const MESH_MISSES: u32 = 3;

/// How long the collector waits for a service's `/readyz`.
const ASK_TIMEOUT: Duration = Duration::from_millis(800);
/// How long it waits for `up`'s `state` (a loaded machine may be slow to schedule the loop).
const STATE_TIMEOUT: Duration = Duration::from_secs(2);

impl Collector {
    pub(super) async fn run(self) {
        let client = reqwest::Client::builder()
            .timeout(ASK_TIMEOUT)
            .no_proxy()
            .build()
            .unwrap_or_default();
        let mut window = Window::new(WINDOW);
        let mut last_poll: Option<Instant> = None;
        let mut mesh: Option<MeshState> = None;
        // Consecutive `state` requests `up`'s loop did not answer in time (it may be busy with
        // a reload or a rollout): the last state is shown until [`MESH_MISSES`] in a row.
        let mut misses = 0;
        // The auth in force, made once per generation: (generation, what it verifies).
        let mut auth: (u64, Option<AuthView>) = (0, None);
        let mut ready = BTreeMap::new();
        let mut sidecars = BTreeMap::new();
        // Ambient mode: the waypoints' figures and the last reading of the node proxies.
        let mut ambient_window = Window::new(WINDOW);
        let mut ambient_reading: Option<ambient::Reading> = None;
        let mut envoy_up = false;
        // Instances ejected by outlier detection at the last reading of Envoy, by workload:
        // a change is logged as an event. Kept while nobody looks or Envoy does not answer, so
        // the next reading logs what changed meanwhile.
        let mut ejected: BTreeMap<String, u64> = BTreeMap::new();
        loop {
            let woken = tokio::select! {
                _ = tokio::time::sleep(PERIOD) => false,
                _ = self.demand.wake.notified() => true,
            };
            if !self.demand.wanted() {
                // Nobody looks: read nothing; the next figures start a fresh window.
                window.clear();
                last_poll = None;
                continue;
            }
            let due = last_poll.is_none_or(|t| t.elapsed() >= PERIOD);
            if due {
                last_poll = Some(Instant::now());
                envoy_up = match self
                    .admin
                    .get(&format!(
                        "/stats/prometheus?usedonly&filter={}",
                        figures::FILTER
                    ))
                    .await
                {
                    Ok((200, text)) => {
                        window.push(Instant::now(), figures::parse(&text));
                        let topology = self.generations.borrow().topology.clone();
                        let now = view::ejections(&topology, &window);
                        self.log_ejections(&topology, &ejected, &now);
                        ejected = now;
                        true
                    }
                    _ => {
                        window.clear();
                        false
                    }
                };
                let status = crate::status::read(&self.state_dir);
                let topology = self.generations.borrow().topology.clone();
                let ambient_status = status.as_ref().and_then(|s| s.ambient.as_ref());
                let reading = async {
                    match ambient_status {
                        Some(a) => Some(ambient::read(&client, a, &mut ambient_window).await),
                        None => None,
                    }
                };
                (ready, sidecars, ambient_reading) = tokio::join!(
                    readiness(&client, &topology, status.as_ref()),
                    sidecars_of(&client, status.as_ref()),
                    reading,
                );
                if ambient_reading.is_none() {
                    ambient_window.clear();
                }
            }
            // `state` is cheap (answered from memory in `up`'s loop): asked on every wake so an
            // event shows with the state it produced.
            if due || woken {
                match ask_state(&self.calls).await {
                    Some(state) => {
                        mesh = Some(state);
                        misses = 0;
                    }
                    None => misses += 1,
                }
            }
            let (events, checks) = match self.log.lock() {
                Ok(l) => (
                    l.events.iter().cloned().collect(),
                    l.checks.iter().cloned().collect(),
                ),
                Err(_) => (Vec::new(), Vec::new()),
            };
            let generation = self.generations.borrow().clone();
            if auth.0 != generation.generation {
                auth = (
                    generation.generation,
                    generation.end_user_auth().map(AuthView::from),
                );
            }
            let view = view::build(Inputs {
                topology: &generation.topology,
                window: &window,
                envoy_up,
                mesh: mesh.as_ref().filter(|_| misses < MESH_MISSES),
                ready: &ready,
                sidecars: &sidecars,
                ambient: ambient_reading.as_ref().map(|reading| Ambient {
                    reading,
                    window: &ambient_window,
                }),
                scenario: generation.scenario_label(),
                scenarios: generation.scenarios().to_vec(),
                auth: auth.1.clone(),
                checks,
                events,
                now_ms: now_ms(),
            });
            self.view.send_replace(Arc::new(view));
        }
    }
}

impl Collector {
    /// Log each workload whose ejected instances changed between two readings (none before
    /// the first: a mesh starts with none ejected).
    fn log_ejections(
        &self,
        topology: &Topology,
        before: &BTreeMap<String, u64>,
        now: &BTreeMap<String, u64>,
    ) {
        let Ok(mut log) = self.log.lock() else {
            return;
        };
        let at = now_ms();
        for w in &topology.workloads {
            let was = before.get(w.binary).copied().unwrap_or(0);
            let is = now.get(w.binary).copied().unwrap_or(0);
            let version = w.labels.get("version").map_or("", String::as_str);
            log.ejections(w.binary, version, was, is, at);
        }
    }
}

/// `/readyz` of every app instance of every workload, all at once (the collector's round is
/// as long as the slowest answer, not their sum). Asked on each instance's own port (see
/// [`readyz_ports`]): with sidecars the contract port is the sidecar's inbound, which refuses
/// plaintext under mTLS STRICT.
async fn readiness(
    client: &reqwest::Client,
    topology: &Topology,
    status: Option<&MeshStatus>,
) -> BTreeMap<String, InstanceCount> {
    let asks = topology.workloads.iter().map(|w| async move {
        let ports = readyz_ports(w, status);
        let total = ports.len();
        let answers = join_all(ports.into_iter().map(|port| async move {
            match port {
                Some(port) => answers_ok(client, &format!("http://127.0.0.1:{port}/readyz")).await,
                None => false,
            }
        }))
        .await;
        let ready = answers.into_iter().filter(|ok| *ok).count();
        (w.binary.to_string(), InstanceCount { ready, total })
    });
    join_all(asks).await.into_iter().collect()
}

async fn answers_ok(client: &reqwest::Client, url: &str) -> bool {
    matches!(client.get(url).send().await, Ok(r) if r.status().is_success())
}

/// Each workload's sidecar from `up`'s status file: its admin `/ready` (asked all at once, like
/// the services) and its inbound's mTLS mode.
async fn sidecars_of(
    client: &reqwest::Client,
    status: Option<&MeshStatus>,
) -> BTreeMap<String, SidecarView> {
    let workloads = status.map_or(&[][..], |s| &s.workloads);
    let asks = workloads.iter().filter_map(|ws| {
        let sc = ws.sidecar.as_ref()?;
        Some(async move {
            let url = format!("http://127.0.0.1:{}/ready", sc.admin);
            let ready = answers_ok(client, &url).await;
            let mtls = sc.mtls.clone();
            (ws.name.clone(), SidecarView { ready, mtls })
        })
    });
    join_all(asks).await.into_iter().collect()
}

/// Where to ask each instance of `w` for `/readyz`: the port of its app process now, as `up`
/// last wrote it in its status file (it moves on `rollout restart`). `None`: an instance with
/// no running process (waiting for its restart) is down. The contract port without a status
/// file (`up` not yet in its loop) or without instances of its own (`--external-services`:
/// the services run elsewhere on their contract ports); nothing with `replicas: 0`.
pub(super) fn readyz_ports(w: &Workload, status: Option<&MeshStatus>) -> Vec<Option<u16>> {
    let Some(ws) = status.and_then(|s| s.workloads.iter().find(|x| x.name == w.name)) else {
        return vec![Some(w.port)];
    };
    if ws.pods.is_empty() {
        return if ws.replicas == 0 {
            Vec::new()
        } else {
            vec![Some(w.port)]
        };
    }
    ws.pods
        .iter()
        .map(|p| p.instance.as_ref().map(|i| i.port))
        .collect()
}

/// `up`'s `state`, a request into its loop; `None` when the loop does not answer in time.
pub(super) async fn ask_state(calls: &Calls) -> Option<MeshState> {
    match calls.ask_within(Op::State, STATE_TIMEOUT).await? {
        Outcome::Done { state, .. } => state.map(|s| *s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Ports;

    fn status(instance: Option<u16>, sidecar: bool) -> MeshStatus {
        crate::status::fixture(&Topology::new(&Ports::default()), instance, sidecar)
    }

    #[test]
    fn readiness_asks_the_serving_instance_not_the_sidecar_inbound() {
        let topology = Topology::new(&Ports::default());
        let w = &topology.workloads[0];
        assert_eq!(
            readyz_ports(w, Some(&status(Some(40123), true))),
            [Some(40123)]
        );
        // Waiting for a restart behind a sidecar: down, not the sidecar's answer.
        assert_eq!(readyz_ports(w, Some(&status(None, true))), [None]);
        // No status file yet, or services run elsewhere: the contract port.
        assert_eq!(readyz_ports(w, None), [Some(w.port)]);
        assert_eq!(readyz_ports(w, Some(&status(None, false))), [Some(w.port)]);
        // Two instances, one waiting for its restart; replicas 0: none.
        let mut two = status(Some(40123), true);
        let mut second = two.workloads[0].pods[0].clone();
        second.instance = None;
        two.workloads[0].pods.push(second);
        assert_eq!(readyz_ports(w, Some(&two)), [Some(40123), None]);
        two.workloads[0].pods.clear();
        two.workloads[0].replicas = 0;
        assert!(readyz_ports(w, Some(&two)).is_empty());
    }
}
