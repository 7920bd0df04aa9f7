//! The three ways the configuration of the running mesh changes: an edit of networking/ or
//! `kyc-mesh use` writing the state file ([`reload`]), a runtime weight override
//! ([`set_weights`]), a scenario switch asked through the control channel ([`use_scenario`]).
//! Each makes the next generation (`super::config`), applies it to every Envoy through the
//! same confirmed, zero-failure apply (`Proxies::apply`: clusters, listeners, routes, then
//! removals), makes it the generation in force, scales to its replicas, and publishes what
//! changed on the event bus.

use std::path::Path;
use std::sync::Arc;

use crate::apply::ApplyError;
use crate::errors::chain;
use crate::field::FieldError;
use crate::istio::RouteRef;
use crate::ops::{MeshEvent, Outcome};
use crate::scenario;
use crate::snapshot::{Rejected, Snapshot};
use crate::topology::SidecarPlan;
use crate::weights::{self, Weights};

use super::config::{Candidate, Change, Reload};
use super::mesh::Mesh;
use super::scale;

/// Apply `candidate` to every Envoy with the instances serving now (in ambient mode the
/// waypoints' routes too); once they all took it, it is the generation in force. True when an
/// Envoy's configuration changed.
async fn apply(mesh: &mut Mesh<'_>, candidate: &Candidate) -> Result<bool, ApplyError> {
    let serving = mesh.fleet.serving();
    let mut changed = mesh.proxies.apply(&candidate.accepted, &serving).await?;
    if let Some(live) = &mut mesh.live_ambient {
        changed |= live.apply(&candidate.accepted).await?;
    }
    mesh.config.commit(candidate.snapshot.clone());
    Ok(changed)
}

/// Injection is decided when a pod is created: a changed label applies at the next `up`
/// (in the cluster: at the next `kubectl rollout restart`), as Istio does.
fn warn_injection_change(mesh: &Mesh<'_>, snapshot: &Snapshot) {
    let o = mesh.o;
    if !o.sidecars || o.external_services {
        return;
    }
    let running: std::collections::BTreeSet<&str> =
        mesh.layout.plan.sidecars.keys().copied().collect();
    let now: std::collections::BTreeSet<&str> = snapshot.injected.iter().copied().collect();
    if now != running {
        eprintln!("kyc-mesh: sidecar injection changed in networking/ (now: {now:?}, running: {running:?}); like a pod's, it applies when the mesh is started again");
    }
}

/// Why `next` cannot replace `before` in a running mesh: it moves workloads between the
/// sidecar and the ambient data plane, which pods restart for in the cluster (the ambient
/// scenario's own Apply says `kubectl rollout restart`); locally, the mesh starts again.
pub(crate) fn dataplane_change(
    running: &std::collections::BTreeSet<&str>,
    next: &Snapshot,
    shown: &str,
) -> Option<String> {
    let next_ambient: std::collections::BTreeSet<&str> = next.ambient.iter().copied().collect();
    (&next_ambient != running).then(|| {
        let start = match next.scenario() {
            Some(p) => format!("kyc-mesh up --scenario {}", p.display()),
            None => "kyc-mesh up".into(),
        };
        format!(
            "{shown} moves workloads between the sidecar and the ambient data plane, which takes a new start, as pods restart for it in the cluster: `kyc-mesh use` restarts the mesh into a scenario, or stop this mesh and run `{start}`"
        )
    })
}

/// Whether `use` may move workloads between the data planes by starting the mesh again: not
/// with `--no-sidecars` or `--external-services` (neither runs sidecars nor ambient mode).
fn can_restart(mesh: &Mesh<'_>) -> bool {
    mesh.o.sidecars && !mesh.o.external_services
}

/// `use` moved workloads between the sidecar and the ambient data plane: as pods restart for
/// it in the cluster (`kubectl rollout restart`), every child stops and `up` starts again
/// with the scenario of the state file (`super::up`).
fn restart(mesh: &mut Mesh<'_>, shown: &str) {
    println!("kyc-mesh: {shown} moves workloads between the sidecar and the ambient data plane: restarting every instance in it, as pods restart for it in the cluster");
    mesh.restart = true;
}

/// The scenario in force is now `now`: say so, record it for `kyc-mesh use`, publish it.
fn switched(mesh: &Mesh<'_>, now: Option<&Path>) {
    let o = mesh.o;
    println!("kyc-mesh: scenario now {}", scenario::shown(now));
    if let Err(e) = scenario::write_applied(&o.state_dir, now) {
        eprintln!("kyc-mesh: {}: {e}", o.state_dir.display());
    }
    mesh.publish(MeshEvent::ScenarioSwitched {
        scenario: now.map(Path::to_path_buf),
    });
}

/// After the watcher saw `change`: translate the next generation and apply it, or keep the
/// last good configuration live.
pub(super) async fn reload(mesh: &mut Mesh<'_>, change: Change) {
    let candidate = match mesh.config.reload(change) {
        Reload::Unchanged => return,
        Reload::Refused(None) => return,
        Reload::Refused(Some(text)) => {
            eprintln!("kyc-mesh: invalid configuration, keeping the last good one live:\n{text}");
            mesh.publish(MeshEvent::EditRejected { error: text });
            return;
        }
        Reload::Next(candidate) => *candidate,
    };
    if let Some(skipped) = mesh.config.newly_skipped(&candidate.snapshot) {
        for s in skipped {
            eprintln!("kyc-mesh: {s}");
        }
    }
    warn_injection_change(mesh, &candidate.snapshot);
    let before = mesh.config.current().clone();
    let shown = scenario::shown(candidate.snapshot.scenario());
    let running = before.ambient.iter().copied().collect();
    if let Some(why) = dataplane_change(&running, &candidate.snapshot, &shown) {
        if change == Change::StateFile && can_restart(mesh) {
            restart(mesh, &shown);
            return;
        }
        eprintln!("kyc-mesh: not applied, the last good configuration stays live: {why}");
        mesh.publish(MeshEvent::EditRejected { error: why });
        return;
    }
    match apply(mesh, &candidate).await {
        Ok(changed) => {
            let now = candidate.snapshot;
            scale::to_replicas(mesh, &now, &candidate.accepted).await;
            if changed {
                mesh.publish(MeshEvent::ConfigApplied {
                    routes: now.routes.clone(),
                });
            }
            if now.scenario() != before.scenario() {
                switched(mesh, now.scenario());
            } else if changed {
                println!("kyc-mesh: configuration reloaded into Envoy");
            }
        }
        Err(e) => eprintln!(
            "kyc-mesh: reload failed, last good configuration stays live: {}",
            chain(&e)
        ),
    }
}

/// The `set-weights` request (`weights` parsed by the edge): held against the generation in
/// force, applied as the next generation (nothing is read; clearing reads the files once, so
/// what they say now applies), then persisted (the override is saved only once Envoy runs it).
pub(super) async fn set_weights(
    mesh: &mut Mesh<'_>,
    route: &RouteRef,
    weights: Option<Weights>,
) -> Outcome {
    let o = mesh.o;
    match mesh.config.rejected() {
        Some(r @ Rejected::Load(_)) => {
            return Outcome::failed(format!(
                "networking/ does not load now; weights not changed: {}",
                r.lines().join("; ")
            ))
        }
        Some(r) => {
            return Outcome::failed(format!(
                "networking/ has errors; weights not changed: {}",
                r.lines().join("; ")
            ))
        }
        None => {}
    }
    let current = mesh.config.current().clone();
    match &weights {
        Some(w) => {
            if let Err(e) = weights::check(&current.registry(), route, w) {
                return e.into();
            }
        }
        None if current.overrides.get(route).is_none() => {
            return mesh.answer(format!("{route} has no weight override to clear"))
        }
        None => {}
    }
    let mut next = current.overrides.clone();
    next.set(route, weights.as_ref());
    let next = match weights {
        Some(_) => mesh.config.with_overrides(next),
        None => mesh.config.with_override_cleared(next),
    };
    let candidate = match next {
        Ok(c) => c,
        Err(r) => {
            return Outcome::failed(format!(
                "networking/ has errors; weights not changed: {}",
                r.lines().join("; ")
            ))
        }
    };
    if let Err(e) = apply(mesh, &candidate).await {
        return Outcome::failed(format!(
            "Envoy did not take the new weights ({}); the last good configuration stays live",
            chain(&e)
        ));
    }
    let now = &candidate.snapshot;
    if let Err(e) = now.overrides.write(&o.state_dir) {
        eprintln!(
            "kyc-mesh: weights applied but not saved to {} ({e}); a reload may undo them",
            weights::path(&o.state_dir).display()
        );
    }
    let shown = match &weights {
        Some(w) => w.to_string(),
        None => "cleared, the files' weights apply".into(),
    };
    let message = format!("weights of {route}: {shown}");
    println!("kyc-mesh: {message}");
    mesh.publish(MeshEvent::WeightsOverridden {
        route: route.clone(),
        weights,
    });
    mesh.publish(MeshEvent::ConfigApplied {
        routes: now.routes.clone(),
    });
    mesh.answer(message)
}

/// The `use` request (the dashboard's scenario picker): `kyc-mesh use`'s switch answered in
/// the loop. The scenario (a name of networking/scenarios, a file, `None`: networking/ only)
/// is read once, must translate for the edge (else refused, naming `scenario`) and for the
/// running sidecars (else the mesh refuses it and the last good configuration stays); then it
/// is applied and written to the state file `up` watches.
pub(super) async fn use_scenario(mesh: &mut Mesh<'_>, arg: Option<String>) -> Outcome {
    let o = mesh.o;
    let shown = arg
        .clone()
        .unwrap_or_else(|| "none (networking/ only)".to_string());
    let path = match &arg {
        None => None,
        Some(name) => match scenario::resolve(&o.networking, name) {
            Ok(p) => p,
            Err(e) => return FieldError::new("scenario", e.to_string()).into(),
        },
    };
    let before = mesh.config.current().clone();
    if path.as_deref() == before.scenario() {
        // Recorded as asked (it may name another one a refused switch left there).
        let _ = scenario::write_state(&o.state_dir, path.as_deref());
        return mesh.answer(format!("scenario {shown} is already in use"));
    }
    let not_translated = |r: &Rejected| -> Outcome {
        FieldError::new(
            "scenario",
            format!("{shown} does not translate: {}", r.lines().join("; ")),
        )
        .into()
    };
    let next = match mesh.config.with_scenario(path.as_deref()) {
        Ok(s) => s,
        Err(r) => return not_translated(&r),
    };
    if let Err(r) = next.translate(&SidecarPlan::default()) {
        return not_translated(&r);
    }
    let running = before.ambient.iter().copied().collect();
    if let Some(why) = dataplane_change(&running, &next, &shown) {
        if !can_restart(mesh) {
            return FieldError::new("scenario", why).into();
        }
        if let Err(e) = scenario::write_state(&o.state_dir, path.as_deref()) {
            return Outcome::failed(format!("{}: {e}", o.state_dir.display()));
        }
        restart(mesh, &shown);
        return mesh.answer(format!(
            "{shown} moves workloads between the sidecar and the ambient data plane: the mesh restarts every instance in it"
        ));
    }
    let candidate = match mesh.config.translate(next) {
        Ok(c) => c,
        Err(r) => {
            let text = r.to_string();
            eprintln!("kyc-mesh: invalid configuration, keeping the last good one live:\n{text}");
            mesh.publish(MeshEvent::EditRejected {
                error: text.clone(),
            });
            return Outcome::failed(format!(
                "the mesh refused scenario {shown}; the last good configuration stays live: {text}"
            ));
        }
    };
    warn_injection_change(mesh, &candidate.snapshot);
    match apply(mesh, &candidate).await {
        Ok(changed) => {
            let now: Arc<Snapshot> = candidate.snapshot;
            if let Err(e) = scenario::write_state(&o.state_dir, now.scenario()) {
                eprintln!("kyc-mesh: {}: {e}", o.state_dir.display());
            }
            scale::to_replicas(mesh, &now, &candidate.accepted).await;
            if changed {
                mesh.publish(MeshEvent::ConfigApplied {
                    routes: now.routes.clone(),
                });
            }
            switched(mesh, now.scenario());
            mesh.answer(format!("the mesh now uses scenario {shown}"))
        }
        Err(e) => {
            let e = chain(&e);
            eprintln!("kyc-mesh: reload failed, last good configuration stays live: {e}");
            Outcome::failed(format!(
                "the mesh refused scenario {shown}; the last good configuration stays live: {e}"
            ))
        }
    }
}
