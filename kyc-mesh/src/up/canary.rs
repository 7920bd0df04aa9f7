//! The canary inside `up` (so that a dashboard can start and watch it), and the load
//! generator: `canary-start` spawns the analysis loop ([`crate::canary::run`]) on the gateway
//! Envoy's stats, moving weights with in-process `set-weights` calls into `up`'s own loop
//! (the same checks, generation and confirmed apply as any client's), publishing each check
//! and phase on the event bus; `canary-promote`/`canary-abort` reach it as commands. One
//! canary at a time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use crate::canary::envoy_metrics::EnvoyMetrics;
use crate::canary::load::{Bearer, LoadError, LoadGen, LoadStatus, MAX_RPS};
use crate::canary::model::{CanarySpec, CanaryStatus, Phase, TraceLinks};
use crate::canary::run::{run, Command, Update};
use crate::canary::{Actuator, CanaryError};
use crate::envoy::ClusterName;
use crate::field::FieldError;
use crate::istio::RouteRef;
use crate::ops::{Calls, MeshEvent, Op, Outcome, Refusal, Refused};
use crate::snapshot::Snapshot;
use crate::token;
use crate::traces::hop::MeshNames;
use crate::traces::query::canary_links;
use crate::traces::store::Store;
use crate::weights::{RouteKind, WeightedDestination, WeightedRoute, Weights};

use super::proxies::Proxies;
use super::waypoints::LiveAmbient;

/// The canary running (or finished: its status stays for `canary status`).
struct RunningCanary {
    status: Arc<Mutex<CanaryStatus>>,
    commands: mpsc::Sender<Command>,
}

impl RunningCanary {
    fn status(&self) -> CanaryStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The canary (running or last run) and the load generator of the mesh.
pub(super) struct Canary {
    running: Option<RunningCanary>,
    load: Option<LoadGen>,
    /// `up`'s own loop: the canary moves weights through it.
    calls: Calls,
    bus: broadcast::Sender<MeshEvent>,
    gateway_port: u16,
    /// Where a finished run finds its failing and slowest traces (`up`'s receiver).
    traces: Option<Arc<TraceLinker>>,
    /// The token the load generator's requests carry (see [`demo_bearer`]).
    bearer: Bearer,
}

/// A finished run's trace links, from `up`'s receiver.
pub(super) struct TraceLinker {
    pub(crate) store: Arc<Store>,
    pub(crate) names: MeshNames,
    /// The dashboard's port: each link opens the trace there.
    pub(crate) dashboard: Option<u16>,
}

/// How long a finished run waits for its last spans (the services and Envoys export to `up`'s
/// receiver every 500 ms) before it links its traces and says it ended.
const LAST_SPANS: std::time::Duration = std::time::Duration::from_millis(1_500);

impl TraceLinker {
    fn links(&self, stable: &str, canary: &str, since_ms: u64) -> TraceLinks {
        let until = crate::traces::now_ms();
        let mut links = self
            .store
            .with_traces(|all| canary_links(all, &self.names, [stable, canary], since_ms, until));
        links.open_at = self
            .dashboard
            .map(|port| format!("http://localhost:{port}/#trace="));
        links
    }
}

/// The load generator's token: a demo token (10 minutes, minted again a minute before it
/// expires) while the generation in force verifies tokens of the demo issuer at the KYC API
/// (`jwt-auth`), none otherwise. Read from the published generation, so `use` takes effect
/// on the next request.
pub(super) fn demo_bearer(generations: watch::Receiver<Arc<Snapshot>>) -> Bearer {
    const LIFETIME: Duration = Duration::from_secs(600);
    // (generation, asks for the demo token), and the token with its expiry.
    let asks: Mutex<(u64, bool)> = Mutex::new((0, false));
    let minted: Mutex<Option<(String, u64)>> = Mutex::new(None);
    Arc::new(move || {
        let snapshot = generations.borrow().clone();
        let needed = {
            let mut a = asks.lock().unwrap_or_else(PoisonError::into_inner);
            if a.0 != snapshot.generation {
                let demo = snapshot.end_user_auth().is_some_and(|e| e.demo);
                *a = (snapshot.generation, demo);
            }
            a.1
        };
        if !needed {
            return None;
        }
        let now = token::unix_now();
        let mut m = minted.lock().unwrap_or_else(PoisonError::into_inner);
        if m.as_ref().is_none_or(|(_, exp)| *exp < now + 60) {
            let fresh = token::demo_token("kyc-mesh-load", LIFETIME).ok()?;
            *m = Some((fresh, now + LIFETIME.as_secs()));
        }
        m.as_ref().map(|(t, _)| t.clone())
    })
}

/// Moves weights with a typed `set-weights` call into `up`'s loop, like any client: the same
/// checks, the next generation, the confirmed apply and the persisted override.
struct LocalActuator {
    calls: Calls,
    route: RouteRef,
    stable: String,
    canary: String,
}

impl Actuator for LocalActuator {
    async fn set_weight(&mut self, weight: u32) -> Result<(), CanaryError> {
        let weights = Weights::split(&self.stable, &self.canary, weight)
            .map_err(|e| CanaryError::Mesh(e.to_string()))?;
        let op = Op::SetWeights {
            route: self.route.clone(),
            weights: Some(weights),
        };
        match self.calls.ask(op).await {
            Some(Outcome::Done { .. }) => Ok(()),
            Some(Outcome::Refused(Refused { message, .. }) | Outcome::Failed { message }) => {
                Err(CanaryError::Mesh(message))
            }
            None => Err(CanaryError::Mesh("the mesh is stopping".into())),
        }
    }
}

/// The subset cluster the gateway holds for a destination (as translated), else istiod's
/// name for it.
fn cluster_of(proxies: &Proxies, d: &WeightedDestination) -> ClusterName {
    let subset = d.subset.clone().unwrap_or_default();
    let prefix = format!("{}.", d.host);
    let gateway = proxies.gateway().map(|g| &g.config.clusters);
    gateway
        .and_then(|clusters| {
            clusters
                .keys()
                .find(|c| c.subset == subset && (c.fqdn == d.host || c.fqdn.starts_with(&prefix)))
        })
        .cloned()
        .unwrap_or_else(|| {
            let fqdn = format!("{}.default.svc.cluster.local", d.host);
            ClusterName::outbound(8080, d.subset.as_deref(), &fqdn)
        })
}

/// Where a canary on `route` reads its figures. An HTTPRoute rule whose parent is a Service a
/// waypoint serves (ambient mode) is applied by that waypoint: its clusters, named as istiod
/// names them. Anything else: the gateway's subset clusters (with sidecars too: the sidecars'
/// inbound clusters do not know the subsets).
fn metrics_for(
    route: &WeightedRoute,
    stable: &WeightedDestination,
    canary: &WeightedDestination,
    proxies: &Proxies,
    ambient: Option<&LiveAmbient>,
) -> Result<EnvoyMetrics, Outcome> {
    if let (RouteKind::HttpRoute { services }, Some(ambient)) = (&route.kind, ambient) {
        if let Some((admin, clusters)) = ambient.waypoint_of(services) {
            let find = |d: &WeightedDestination| {
                let prefix = format!("{}.", d.host);
                clusters
                    .iter()
                    .find(|c| c.subset.is_empty() && c.fqdn.starts_with(&prefix))
                    .cloned()
                    .ok_or_else(|| {
                        Outcome::failed(format!("the waypoint has no cluster for {}", d.host))
                    })
            };
            return Ok(EnvoyMetrics::new(
                admin.clone(),
                &find(stable)?,
                &find(canary)?,
            ));
        }
    }
    let Some(gateway) = proxies.gateway() else {
        return Err(Outcome::failed("the mesh runs no ingress gateway"));
    };
    Ok(EnvoyMetrics::new(
        gateway.admin.clone(),
        &cluster_of(proxies, stable),
        &cluster_of(proxies, canary),
    ))
}

impl Canary {
    pub(super) fn new(
        calls: Calls,
        bus: broadcast::Sender<MeshEvent>,
        gateway_port: u16,
        traces: Option<TraceLinker>,
        bearer: Bearer,
    ) -> Self {
        Canary {
            running: None,
            load: None,
            calls,
            bus,
            gateway_port,
            traces: traces.map(Arc::new),
            bearer,
        }
    }

    /// The status of the canary running or last run.
    pub(super) fn status(&self) -> Option<CanaryStatus> {
        self.running.as_ref().map(RunningCanary::status)
    }

    pub(super) fn load_status(&self) -> LoadStatus {
        self.load.as_ref().map(LoadGen::status).unwrap_or_default()
    }

    /// `canary-start` on `route` (the weighted route the spec names, as in force): the
    /// message of its start, or why not.
    pub(super) fn start(
        &mut self,
        spec: CanarySpec,
        route: Option<&WeightedRoute>,
        proxies: &Proxies,
        ambient: Option<&LiveAmbient>,
    ) -> Result<String, Outcome> {
        if let Some(s) = self.status().filter(|s| !s.phase.is_final()) {
            return Err(Outcome::refused(
                Refusal::Conflict,
                format!(
                    "a canary already runs on {}/{} ({:?}, canary at {}%): `kyc-mesh canary abort` or wait for it",
                    s.spec.virtual_service, s.spec.route, s.phase, s.weight
                ),
            ));
        }
        spec.validate()?;
        let r = spec.route();
        let Some(found) = route else {
            return Err(FieldError::new(
                "route",
                format!(
                    "no weighted http route {:?} in a VirtualService or HTTPRoute named {:?}",
                    r.route, r.virtual_service
                ),
            )
            .into());
        };
        let [stable, canary] = found.destinations.as_slice() else {
            return Err(FieldError::new(
                "route",
                format!(
                    "{r} has {} destinations; the canary needs exactly two (stable first)",
                    found.destinations.len()
                ),
            )
            .into());
        };
        let metrics = metrics_for(found, stable, canary, proxies, ambient)?;
        let actuator = LocalActuator {
            calls: self.calls.clone(),
            route: r.clone(),
            stable: stable.host.clone(),
            canary: canary.host.clone(),
        };
        if let Some(rps) = spec.load_rps.filter(|r| *r > 0) {
            self.start_load(rps)
                .map_err(|e| Outcome::failed(e.to_string()))?;
        }
        let (tx, rx) = mpsc::channel(4);
        let status = Arc::new(Mutex::new(CanaryStatus {
            phase: Phase::Progressing,
            spec: spec.clone(),
            stable: stable.host.clone(),
            canary: canary.host.clone(),
            weight: 0,
            failed_checks: 0,
            last: None,
            message: "starting".into(),
            traces: None,
        }));
        let message = format!(
            "canary started on {r}: stable {}, canary {}, +{}% every {} ms",
            stable.host, canary.host, spec.step_weight, spec.interval_ms
        );
        println!("kyc-mesh: {message}");
        tokio::spawn(analyse(
            spec,
            metrics,
            actuator,
            rx,
            status.clone(),
            self.bus.clone(),
            self.traces.clone(),
        ));
        self.running = Some(RunningCanary {
            status,
            commands: tx,
        });
        Ok(message)
    }

    /// `canary-promote` / `canary-abort`: handed to the analysis, which moves the weights
    /// (through `up`'s loop, so the answer cannot wait for it: follow the events or
    /// `canary-status`).
    pub(super) fn command(&mut self, command: Command) -> Result<String, Outcome> {
        let running = self
            .running
            .as_ref()
            .filter(|c| !c.status().phase.is_final());
        let Some(c) = running else {
            return Err(Outcome::refused(Refusal::Conflict, "no canary is running"));
        };
        match c.commands.try_send(command) {
            Ok(()) => Ok(format!("{command:?} sent to the canary")),
            Err(_) => Err(Outcome::refused(
                Refusal::Unavailable,
                "the canary is busy; try again",
            )),
        }
    }

    /// The `load` request: `rps` requests a second through the gateway, 0 stops it.
    pub(super) fn load(&mut self, rps: u32) -> Result<String, Outcome> {
        if rps == 0 {
            if let Some(l) = &mut self.load {
                l.stop();
            }
            let _ = self.bus.send(MeshEvent::Load(self.load_status()));
            return Ok("load generator stopped".into());
        }
        match self.start_load(rps) {
            Ok(()) => Ok(format!("load generator at {rps} requests/s")),
            Err(e @ LoadError::TooFast(_)) => Err(Refused {
                reason: Refusal::BadRequest,
                field: Some("rps".into()),
                message: e.to_string(),
            }
            .into()),
            Err(e) => Err(Outcome::refused(Refusal::BadRequest, e.to_string())),
        }
    }

    fn start_load(&mut self, rps: u32) -> Result<(), LoadError> {
        if rps > MAX_RPS {
            return Err(LoadError::TooFast(rps)); // the one running keeps running
        }
        self.load = None;
        let bus = self.bus.clone();
        let report = move |load| {
            let _ = bus.send(MeshEvent::Load(load));
        };
        self.load = Some(LoadGen::start(
            self.gateway_port,
            rps,
            self.bearer.clone(),
            report,
        )?);
        Ok(())
    }
}

/// The canary task: run the loop, publish as it goes (the end once its traces are linked),
/// stop the load it started.
async fn analyse(
    spec: CanarySpec,
    mut metrics: EnvoyMetrics,
    mut actuator: LocalActuator,
    mut commands: mpsc::Receiver<Command>,
    status: Arc<Mutex<CanaryStatus>>,
    bus: broadcast::Sender<MeshEvent>,
    traces: Option<Arc<TraceLinker>>,
) {
    let (stable, canary) = (actuator.stable.clone(), actuator.canary.clone());
    let calls = actuator.calls.clone();
    let started_ms = crate::traces::now_ms();
    let on = |u: Update| match u {
        // The end is published below, with its trace links.
        Update::Status(st) if st.phase.is_final() => {
            if let Ok(mut s) = status.lock() {
                *s = st;
            }
        }
        Update::Check(check) => {
            if let Ok(mut s) = status.lock() {
                s.last = Some(check.clone());
                s.failed_checks = check.failed_checks;
            }
            let _ = bus.send(MeshEvent::CanaryCheck(Box::new(check)));
        }
        Update::Status(st) => {
            if let Ok(mut s) = status.lock() {
                *s = st.clone();
            }
            let _ = bus.send(MeshEvent::CanaryPhase(Box::new(st)));
        }
    };
    let mut last = run(
        &spec,
        &stable,
        &canary,
        &mut metrics,
        &mut actuator,
        &mut commands,
        on,
    )
    .await;
    if let Some(t) = &traces {
        tokio::time::sleep(LAST_SPANS).await;
        last.traces = Some(t.links(&stable, &canary, started_ms));
    }
    if let Ok(mut s) = status.lock() {
        *s = last.clone();
    }
    let _ = bus.send(MeshEvent::CanaryPhase(Box::new(last.clone())));
    println!("kyc-mesh: canary {:?}: {}", last.phase, last.message);
    if spec.load_rps.is_some() {
        let _ = calls.ask(Op::Load { rps: 0 }).await;
    }
}
