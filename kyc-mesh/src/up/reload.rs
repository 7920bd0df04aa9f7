//! The running mesh: watch networking/, the scenario and the state file; on a change,
//! translate again and apply the result (or keep the last good configuration live);
//! report any child's exit, and stop when Envoy dies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::apply::endpoints::serve_from;
use crate::apply::{Admin, XdsDir};
use crate::control::protocol::Request;
use crate::control::server::Call;
use crate::pipeline;
use crate::scenario;
use crate::supervise::Exit;
use crate::topology::Topology;
use crate::translate::ProxyConfig;

use super::fleet::Fleet;
use super::rollout::Target;
use super::{banner, UpOptions};

/// Watch networking/ (recursively: scenarios/ too) and the state directory (only its own
/// files: the xDS directory inside it is ours and must not trigger reloads).
fn watch(paths: &[PathBuf], tx: mpsc::UnboundedSender<()>) -> Result<notify::RecommendedWatcher> {
    let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if !matches!(ev.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    })?;
    for (i, p) in paths.iter().enumerate() {
        let mode = if i == 0 {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        w.watch(p, mode)
            .with_context(|| format!("watching {}", p.display()))?;
    }
    Ok(w)
}

/// Also watches the directory of a scenario file that lives outside networking/.
struct ScenarioWatch {
    watched: Vec<PathBuf>,
    watcher: notify::RecommendedWatcher,
    parent: Option<PathBuf>,
}

impl ScenarioWatch {
    fn follow(&mut self, scenario: Option<&Path>) {
        let parent = scenario.and_then(|s| s.parent().map(Path::to_path_buf));
        if parent == self.parent {
            return;
        }
        if let Some(old) = self.parent.take() {
            if !self.watched.contains(&old) {
                let _ = self.watcher.unwatch(&old);
            }
        }
        if let Some(p) = &parent {
            if !self.watched.iter().any(|w| p.starts_with(w))
                && self.watcher.watch(p, RecursiveMode::NonRecursive).is_ok()
            {
                self.parent = Some(p.clone());
            }
        }
    }
}

/// The started mesh: its service instances, every process's exits (Envoy's id is
/// `envoy_id`), restarts coming due, control requests, and the Envoy configuration it
/// holds (`config`: the last good translation, endpoints on topology ports).
pub(super) struct Running<'a> {
    pub fleet: &'a mut Fleet,
    pub exits: &'a mut mpsc::UnboundedReceiver<Exit>,
    pub restarts: &'a mut mpsc::UnboundedReceiver<usize>,
    pub control: &'a mut mpsc::Receiver<Call>,
    pub envoy_id: usize,
    /// The local Prometheus, when one runs: its exit is reported, the mesh runs on without it.
    pub prometheus_id: Option<usize>,
    pub xds: &'a mut XdsDir,
    pub admin: &'a Admin,
    pub config: ProxyConfig,
}

pub(super) async fn run(
    o: &UpOptions,
    topology: &Topology,
    mesh: Running<'_>,
    scenario: &mut Option<PathBuf>,
) -> Result<i32> {
    let Running {
        fleet,
        exits,
        restarts,
        control,
        envoy_id,
        prometheus_id,
        xds,
        admin,
        mut config,
    } = mesh;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watched = vec![o.networking.clone(), o.state_dir.clone()];
    let watcher = watch(&watched, tx.clone())?;
    let mut follow = ScenarioWatch {
        watched,
        watcher,
        parent: None,
    };
    follow.follow(scenario.as_deref());
    // Watching now: catch an edit made between the first translation and this point,
    // then tell the user (and tests) the mesh is up.
    let _ = tx.send(());
    banner(o, topology, scenario.as_deref());

    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            Some((id, status)) = exits.recv() => {
                if id == envoy_id {
                    eprintln!("kyc-mesh: envoy exited ({status}); stopping everything");
                    return Ok(1);
                }
                if Some(id) == prometheus_id {
                    eprintln!("kyc-mesh: prometheus exited ({status}); the mesh runs on without it");
                    continue;
                }
                fleet.on_exit(id, &status);
            }
            Some(slot) = restarts.recv() => fleet.restart(slot),
            Some(Call { request, reply }) = control.recv() => {
                let response = match request {
                    Request::RolloutRestart { service } => {
                        let target = Target { xds: &mut *xds, admin, config: &config };
                        fleet.rollout_restart(&service, target).await
                    }
                };
                let _ = reply.send(response);
            }
            Some(()) = rx.recv() => {
                // Coalesce the burst of events one save produces.
                let quiet = Duration::from_millis(150);
                while let Ok(Some(())) = tokio::time::timeout(quiet, rx.recv()).await {}
                let new_scenario = scenario::read_state(&o.state_dir);
                match pipeline::build(&o.networking, new_scenario.as_deref(), &o.ports) {
                    Err(errors) => {
                        let text = errors.join("\n");
                        if last_error.as_deref() != Some(text.as_str()) {
                            eprintln!("kyc-mesh: invalid configuration, keeping the last good one live:\n{text}");
                            last_error = Some(text);
                        }
                    }
                    Ok(accepted) => {
                        last_error = None;
                        match xds.apply(admin, &serve_from(&accepted.ingress, &fleet.serving())).await {
                            Ok(changed) => {
                                config = accepted.ingress;
                                if new_scenario != *scenario {
                                    println!("kyc-mesh: scenario now {}", scenario::shown(new_scenario.as_deref()));
                                    *scenario = new_scenario;
                                    follow.follow(scenario.as_deref());
                                } else if changed {
                                    println!("kyc-mesh: configuration reloaded into Envoy");
                                }
                            }
                            Err(e) => eprintln!("kyc-mesh: reload failed, last good configuration stays live: {e:#}"),
                        }
                    }
                }
            }
        }
    }
}
