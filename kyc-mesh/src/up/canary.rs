//! The canary inside `up` (so that a dashboard can start and watch it): `canary-start` spawns
//! the analysis loop ([`crate::canary::run`]) on Envoy's stats, moving weights with
//! `set-weights` requests sent to `up`'s own loop, publishing each check and phase on the
//! event bus; `canary-promote`/`canary-abort` reach it as commands; `load` runs the load
//! generator. One canary at a time.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

use crate::canary::envoy_metrics::EnvoyMetrics;
use crate::canary::load::{LoadGen, MAX_RPS};
use crate::canary::model::{CanarySpec, CanaryStatus};
use crate::canary::run::{run, Command, Update};
use crate::canary::Actuator;
use crate::control::event::Event;
use crate::control::protocol::{Refusal, Request, Response};
use crate::control::server::Call;
use crate::control::state::RouteDestinationState;
use crate::envoy::ClusterName;

use super::live::Live;

/// The canary running (or finished: its status stays for `canary status`).
pub(super) struct RunningCanary {
    status: Arc<Mutex<CanaryStatus>>,
    commands: mpsc::Sender<Command>,
}

impl RunningCanary {
    pub fn status(&self) -> CanaryStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Moves weights by asking `up`'s loop, like any client: the same validation, pipeline,
/// confirmed reload and persisted override.
struct LocalActuator {
    calls: mpsc::Sender<Call>,
    virtual_service: String,
    route: String,
    stable: String,
    canary: String,
}

impl Actuator for LocalActuator {
    async fn set_weight(&mut self, weight: u32) -> Result<(), String> {
        let weights = [
            (self.stable.clone(), (100 - weight).into()),
            (self.canary.clone(), weight.into()),
        ]
        .into_iter()
        .collect();
        let request = Request::SetWeights {
            virtual_service: self.virtual_service.clone(),
            route: self.route.clone(),
            weights: Some(weights),
        };
        match ask(&self.calls, request).await {
            Some(Response::Done { .. }) => Ok(()),
            Some(Response::Refused { message, .. } | Response::Failed { message }) => Err(message),
            None => Err("the mesh is stopping".into()),
        }
    }
}

async fn ask(calls: &mpsc::Sender<Call>, request: Request) -> Option<Response> {
    let (reply, answer) = oneshot::channel();
    calls.send(Call { request, reply }).await.ok()?;
    answer.await.ok()
}

/// The subset cluster Envoy holds for a destination (as translated), else istiod's name for it.
fn cluster_of(live: &Live<'_>, d: &RouteDestinationState) -> ClusterName {
    let subset = d.subset.clone().unwrap_or_default();
    let prefix = format!("{}.", d.host);
    let gateway = live.mesh.gateway().map(|g| &g.config.clusters);
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

impl Live<'_> {
    pub(super) fn canary_start(&mut self, spec: CanarySpec) -> Response {
        if let Some(c) = &self.canary {
            let s = c.status();
            if !s.phase.is_final() {
                return Response::refused(
                    Refusal::Conflict,
                    format!(
                        "a canary already runs on {}/{} ({:?}, canary at {}%): `kyc-mesh canary abort` or wait for it",
                        s.spec.virtual_service, s.spec.route, s.phase, s.weight
                    ),
                );
            }
        }
        if let Err(e) = spec.validate() {
            return Response::refused(Refusal::BadRequest, e);
        }
        let (vs, route) = (&spec.virtual_service, &spec.route);
        let found = self
            .routes
            .iter()
            .find(|r| &r.virtual_service == vs && &r.route == route)
            .cloned();
        let Some(r) = found else {
            return Response::refused(
                Refusal::BadRequest,
                format!("route: no weighted http route {route:?} in VirtualService {vs:?}"),
            );
        };
        let [stable, canary] = r.destinations.as_slice() else {
            return Response::refused(
                Refusal::BadRequest,
                format!("route: {vs}/{route} has {} destinations; the canary needs exactly two (stable first)", r.destinations.len()),
            );
        };
        // The canary reads the gateway's subset clusters (with sidecars too: the
        // sidecars' inbound clusters do not know the subsets).
        let Some(gateway) = self.mesh.gateway() else {
            return Response::failed("the mesh runs no ingress gateway");
        };
        let metrics = EnvoyMetrics::new(
            gateway.admin.clone(),
            &cluster_of(self, stable),
            &cluster_of(self, canary),
        );
        let actuator = LocalActuator {
            calls: self.calls.clone(),
            virtual_service: vs.clone(),
            route: route.clone(),
            stable: stable.host.clone(),
            canary: canary.host.clone(),
        };
        if let Some(rps) = spec.load_rps.filter(|r| *r > 0) {
            if let Err(e) = self.start_load(rps) {
                return Response::failed(e);
            }
        }
        let (tx, rx) = mpsc::channel(4);
        let status = Arc::new(Mutex::new(CanaryStatus {
            phase: crate::canary::model::Phase::Progressing,
            spec: spec.clone(),
            stable: stable.host.clone(),
            canary: canary.host.clone(),
            weight: 0,
            failed_checks: 0,
            last: None,
            message: "starting".into(),
        }));
        let message = format!(
            "canary started on {vs}/{route}: stable {}, canary {}, +{}% every {} ms",
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
            self.calls.clone(),
        ));
        self.canary = Some(RunningCanary {
            status,
            commands: tx,
        });
        self.answer(message)
    }

    /// `canary-promote` / `canary-abort`: handed to the loop, which moves the weights (through
    /// this same loop, so the answer cannot wait for it: follow the events or `canary-status`).
    pub(super) fn canary_command(&mut self, command: Command) -> Response {
        let running = self
            .canary
            .as_ref()
            .filter(|c| !c.status().phase.is_final());
        let Some(c) = running else {
            return Response::refused(Refusal::Conflict, "no canary is running");
        };
        match c.commands.try_send(command) {
            Ok(()) => self.answer(format!("{command:?} sent to the canary")),
            Err(_) => Response::refused(Refusal::Unavailable, "the canary is busy; try again"),
        }
    }

    pub(super) fn load(&mut self, rps: u32) -> Response {
        if rps == 0 {
            if let Some(l) = &mut self.load {
                l.stop();
            }
            let _ = self.bus.send(Event::Load {
                load: self.load.as_ref().map(LoadGen::status).unwrap_or_default(),
            });
            return self.answer("load generator stopped".into());
        }
        match self.start_load(rps) {
            Ok(()) => self.answer(format!("load generator at {rps} requests/s")),
            Err(e) => Response::refused(Refusal::BadRequest, e),
        }
    }

    fn start_load(&mut self, rps: u32) -> Result<(), String> {
        if rps > MAX_RPS {
            return Err(format!("rps: {rps} is more than {MAX_RPS}"));
        }
        self.load = None;
        self.load = Some(LoadGen::start(self.o.ports.gateway, rps, self.bus.clone())?);
        Ok(())
    }
}

/// The canary task: run the loop, publish as it goes, stop the load it started.
async fn analyse(
    spec: CanarySpec,
    mut metrics: EnvoyMetrics,
    mut actuator: LocalActuator,
    mut commands: mpsc::Receiver<Command>,
    status: Arc<Mutex<CanaryStatus>>,
    bus: tokio::sync::broadcast::Sender<Event>,
    calls: mpsc::Sender<Call>,
) {
    let (stable, canary) = (actuator.stable.clone(), actuator.canary.clone());
    let on = |u: Update| match u {
        Update::Check(check) => {
            if let Ok(mut s) = status.lock() {
                s.last = Some(check.clone());
                s.failed_checks = check.failed_checks;
            }
            let _ = bus.send(Event::CanaryCheck {
                check: Box::new(check),
            });
        }
        Update::Status(st) => {
            if let Ok(mut s) = status.lock() {
                *s = st.clone();
            }
            let _ = bus.send(Event::CanaryPhase {
                status: Box::new(st),
            });
        }
    };
    let last = run(
        &spec,
        &stable,
        &canary,
        &mut metrics,
        &mut actuator,
        &mut commands,
        on,
    )
    .await;
    println!("kyc-mesh: canary {:?}: {}", last.phase, last.message);
    if spec.load_rps.is_some() {
        let _ = ask(&calls, Request::Load { rps: 0 }).await;
    }
}
