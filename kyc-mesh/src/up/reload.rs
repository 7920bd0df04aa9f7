//! The running mesh: watch networking/, the scenario and the state file; on a change,
//! translate again and apply the result (or keep the last good configuration live);
//! report any child's exit, and stop when Envoy dies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::control::server::Call;
use crate::pipeline;
use crate::supervise::Exit;
use crate::topology::Topology;
use crate::translate::ProxyId;

use super::banner::banner;
use super::layout::Layout;
use super::live::Live;
use super::UpOptions;

/// Injection is decided when a pod is created: a changed label applies at the next `up`
/// (in the cluster: at the next `kubectl rollout restart`), as Istio does.
pub(super) fn warn_injection_change(o: &UpOptions, scenario: Option<&Path>, layout: &Layout) {
    if !o.sidecars || o.external_services {
        return;
    }
    let Ok(now) = pipeline::injected(&o.networking, scenario, &o.ports) else {
        return;
    };
    let running: std::collections::BTreeSet<&str> = layout.plan.sidecars.keys().copied().collect();
    if now != running {
        eprintln!("kyc-mesh: sidecar injection changed in networking/ (now: {now:?}, running: {running:?}); like a pod's, it applies when the mesh is started again");
    }
}

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

/// The started mesh: its live configuration (service instances, Envoys, weights, canary),
/// every process's exits (an Envoy's stops the mesh), restarts coming due, control requests.
pub(super) struct Running<'a> {
    pub live: Live<'a>,
    pub exits: &'a mut mpsc::UnboundedReceiver<Exit>,
    pub restarts: &'a mut mpsc::UnboundedReceiver<String>,
    pub control: &'a mut mpsc::Receiver<Call>,
    /// The local Prometheus, when one runs: its exit is reported, the mesh runs on without it.
    pub prometheus_id: Option<usize>,
}

pub(super) async fn run(o: &UpOptions, topology: &Topology, mesh: Running<'_>) -> Result<i32> {
    let Running {
        mut live,
        exits,
        restarts,
        control,
        prometheus_id,
    } = mesh;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watched = vec![o.networking.clone(), o.state_dir.clone()];
    let watcher = watch(&watched, tx.clone())?;
    let mut follow = ScenarioWatch {
        watched,
        watcher,
        parent: None,
    };
    follow.follow(live.scenario.as_deref());
    // Watching now: catch an edit made between the first translation and this point,
    // then tell the user (and tests) the mesh is up.
    let _ = tx.send(());
    banner(o, topology, live.layout, live.scenario.as_deref());
    if let Err(e) = crate::scenario::write_applied(&o.state_dir, live.scenario.as_deref()) {
        eprintln!("kyc-mesh: {}: {e}", o.state_dir.display());
    }

    loop {
        super::report::write(&super::report::View {
            o,
            topology,
            layout: live.layout,
            fleet: live.fleet,
            mesh: live.mesh,
            scenario: live.scenario.as_deref(),
        });
        tokio::select! {
            Some((id, status)) = exits.recv() => {
                match live.mesh.by_proc(id).map(|p| (p.id, p.pod.as_ref())) {
                    Some((ProxyId::IngressGateway, _)) => {
                        eprintln!("kyc-mesh: envoy exited ({status}); stopping everything");
                        return Ok(1);
                    }
                    Some((ProxyId::Sidecar(name), pod)) => {
                        let pod = pod.map_or(name, |p| p.name.as_str());
                        eprintln!("kyc-mesh: the sidecar Envoy of {pod} exited ({status}); stopping everything");
                        return Ok(1);
                    }
                    None => {}
                }
                if Some(id) == prometheus_id {
                    eprintln!("kyc-mesh: prometheus exited ({status}); the mesh runs on without it");
                    continue;
                }
                live.fleet.on_exit(id, &status);
            }
            Some(pod) = restarts.recv() => live.fleet.restart(&pod),
            Some(Call { request, reply }) = control.recv() => {
                let response = super::control::handle(&mut live, request).await;
                let _ = reply.send(response);
            }
            Some(()) = rx.recv() => {
                // Coalesce the burst of events one save produces; at most for a second, so
                // a file written continuously in a watched directory cannot starve the loop
                // (control requests, the canary's weight changes).
                let quiet = Duration::from_millis(150);
                let until = tokio::time::Instant::now() + Duration::from_secs(1);
                while tokio::time::Instant::now() < until {
                    if !matches!(tokio::time::timeout(quiet, rx.recv()).await, Ok(Some(()))) {
                        break;
                    }
                }
                if live.reload().await {
                    follow.follow(live.scenario.as_deref());
                }
            }
        }
    }
}
