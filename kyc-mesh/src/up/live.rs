//! The live configuration of the running mesh and the two ways it changes: an edit of
//! networking/ or a scenario switch ([`Live::reload`]), and a runtime weight override
//! ([`Live::set_weights`]). Both go through the same pipeline (load → overrides → translate →
//! refuse errors) and the same confirmed, zero-failure apply into Envoy; each change is
//! published on the event bus.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::sync::{broadcast, mpsc};

use crate::canary::load::LoadGen;
use crate::control::event::Event;
use crate::control::protocol::{Refusal, Response};
use crate::control::server::Call;
use crate::control::state::{MeshState, WeightedRoute};
use crate::pipeline::{self, Accepted};
use crate::scenario;
use crate::weights::{self, Overrides};

use super::fleet::Fleet;
use super::layout::Layout;
use super::proxies::Proxies;
use super::UpOptions;

pub(super) struct Live<'a> {
    pub o: &'a UpOptions,
    pub fleet: &'a mut Fleet,
    /// The Envoys (gateway and sidecars), each with the last good translation it holds.
    pub mesh: &'a mut Proxies,
    /// Where the sidecars and their apps listen (fixed for the mesh's life).
    pub layout: &'a Layout,
    pub scenario: &'a mut Option<PathBuf>,
    pub overrides: Overrides,
    /// The weighted routes of the configuration in force.
    pub routes: Vec<WeightedRoute>,
    pub bus: broadcast::Sender<Event>,
    /// Requests from `up`'s own tasks (the canary's `set-weights`), answered in the loop.
    pub calls: mpsc::Sender<Call>,
    /// The canary running or last run (see [`super::canary`]).
    pub canary: Option<super::canary::RunningCanary>,
    pub load: Option<LoadGen>,
    last_error: Option<String>,
    last_skipped: Vec<String>,
}

impl<'a> Live<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        o: &'a UpOptions,
        fleet: &'a mut Fleet,
        mesh: &'a mut Proxies,
        layout: &'a Layout,
        accepted: Accepted,
        scenario: &'a mut Option<PathBuf>,
        bus: broadcast::Sender<Event>,
        calls: mpsc::Sender<Call>,
    ) -> Self {
        Live {
            o,
            fleet,
            mesh,
            layout,
            scenario,
            overrides: Overrides::default(),
            routes: accepted.routes,
            bus,
            calls,
            canary: None,
            load: None,
            last_error: None,
            last_skipped: Vec::new(),
        }
    }

    fn publish(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.bus.send(event);
    }

    /// Translate networking/, the scenario of the state file and the overrides again and apply
    /// the result, or keep the last good configuration live. True when the scenario changed.
    pub async fn reload(&mut self) -> bool {
        let new_scenario = scenario::read_state(&self.o.state_dir);
        let o = self.o;
        let built = pipeline::build_mesh(
            &o.networking,
            new_scenario.as_deref(),
            &o.ports,
            &self.layout.plan,
            &self.overrides,
        );
        let accepted = match built {
            Err(errors) => {
                let text = errors.join("\n");
                if self.last_error.as_deref() != Some(text.as_str()) {
                    eprintln!(
                        "kyc-mesh: invalid configuration, keeping the last good one live:\n{text}"
                    );
                    self.publish(Event::EditRejected {
                        error: text.clone(),
                    });
                    self.last_error = Some(text);
                }
                return false;
            }
            Ok(a) => a,
        };
        self.last_error = None;
        if accepted.skipped != self.last_skipped {
            for s in &accepted.skipped {
                eprintln!("kyc-mesh: {s}");
            }
            self.last_skipped = accepted.skipped.clone();
        }
        super::reload::warn_injection_change(o, new_scenario.as_deref(), self.layout);
        let serving = self.fleet.serving();
        match self.mesh.apply(&accepted, &serving).await {
            Ok(changed) => {
                self.scale(&accepted, new_scenario.as_deref()).await;
                self.routes = accepted.routes;
                if changed {
                    self.publish(Event::ConfigApplied {
                        routes: self.routes.clone(),
                    });
                }
                if new_scenario != *self.scenario {
                    let shown = scenario::shown(new_scenario.as_deref());
                    println!("kyc-mesh: scenario now {shown}");
                    if let Err(e) = scenario::write_applied(&o.state_dir, new_scenario.as_deref()) {
                        eprintln!("kyc-mesh: {}: {e}", o.state_dir.display());
                    }
                    self.publish(Event::ScenarioSwitched {
                        scenario: new_scenario.as_ref().map(|p| p.display().to_string()),
                    });
                    *self.scenario = new_scenario;
                    return true;
                } else if changed {
                    println!("kyc-mesh: configuration reloaded into Envoy");
                }
            }
            Err(e) => {
                eprintln!("kyc-mesh: reload failed, last good configuration stays live: {e:#}")
            }
        }
        false
    }

    /// The `set-weights` request: validate against the objects now loaded, apply through the
    /// pipeline, then persist (the override is saved only once Envoy runs it).
    pub async fn set_weights(
        &mut self,
        vs: &str,
        route: &str,
        weights: Option<BTreeMap<String, serde_json::Number>>,
    ) -> Response {
        let o = self.o;
        let objects = match pipeline::load(&o.networking, self.scenario.as_deref()) {
            Ok(objects) => objects,
            Err(errors) => {
                return Response::failed(format!(
                    "networking/ does not load now; weights not changed: {}",
                    errors.join("; ")
                ))
            }
        };
        let weights = match weights {
            Some(w) => match weights::validate(&objects, vs, route, &w) {
                Ok(w) => Some(w),
                Err(e) => return Response::refused(Refusal::BadRequest, e),
            },
            None if self.overrides.get(vs, route).is_none() => {
                return self.answer(format!("{vs}/{route} has no weight override to clear"))
            }
            None => None,
        };
        let mut next = self.overrides.clone();
        next.set(vs, route, weights.clone());
        let (scenario, plan) = (self.scenario.as_deref(), &self.layout.plan);
        let accepted = match pipeline::build_mesh(&o.networking, scenario, &o.ports, plan, &next) {
            Ok(a) => a,
            Err(errors) => {
                return Response::failed(format!(
                    "networking/ has errors; weights not changed: {}",
                    errors.join("; ")
                ))
            }
        };
        let serving = self.fleet.serving();
        if let Err(e) = self.mesh.apply(&accepted, &serving).await {
            return Response::failed(format!(
                "Envoy did not take the new weights ({e:#}); the last good configuration stays live"
            ));
        }
        self.routes = accepted.routes;
        self.overrides = next;
        if let Err(e) = self.overrides.write(&o.state_dir) {
            eprintln!(
                "kyc-mesh: weights applied but not saved to {} ({e}); a reload may undo them",
                weights::path(&o.state_dir).display()
            );
        }
        let shown = match &weights {
            Some(w) => w
                .iter()
                .map(|(h, w)| format!("{h} {w}"))
                .collect::<Vec<_>>()
                .join(", "),
            None => "cleared, the files' weights apply".into(),
        };
        let message = format!("weights of {vs}/{route}: {shown}");
        println!("kyc-mesh: {message}");
        self.publish(Event::WeightsOverridden {
            virtual_service: vs.to_string(),
            route: route.to_string(),
            weights,
        });
        self.publish(Event::ConfigApplied {
            routes: self.routes.clone(),
        });
        self.answer(message)
    }

    /// A `done` answer carrying the mesh's state.
    pub fn answer(&self, message: String) -> Response {
        Response::Done {
            message,
            state: Some(Box::new(self.state())),
        }
    }

    pub fn state(&self) -> MeshState {
        MeshState {
            routes: self.routes.clone(),
            chaos: self.fleet.chaos.clone(),
            canary: self.canary.as_ref().map(|c| c.status()),
            load: self.load.as_ref().map(LoadGen::status).unwrap_or_default(),
        }
    }
}
