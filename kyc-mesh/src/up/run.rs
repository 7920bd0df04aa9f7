//! The running mesh's loop: every process's exits (an Envoy's stops the mesh), restarts
//! coming due, requests (`super::control`) and changes of the files (`super::reconfigure`),
//! one at a time; the status file rewritten after each.

use crate::ops::Call;
use crate::translate::ProxyId;

use super::banner::banner;
use super::canary::{Canary, TraceLinker};
use super::control;
use super::error::{Stopped, UpError};
use super::mesh::Mesh;
use super::reconfigure;
use super::report;
use super::start::{Prepared, Spawned};
use crate::traces::hop::MeshNames;

pub(super) async fn run(p: &mut Prepared, spawned: Spawned) -> Result<Stopped, UpError> {
    let Spawned {
        mut proxies,
        prometheus_id,
        ambient,
        live_ambient,
    } = spawned;
    let Prepared {
        o,
        topology,
        layout,
        config,
        fleet,
        restarts,
        exits,
        bus,
        calls,
        requests,
        watch,
        ambient: dataplane,
        traces,
        ..
    } = p;
    let linker = traces.as_ref().map(|t| TraceLinker {
        store: t.store.clone(),
        names: MeshNames::from_topology(topology),
        dashboard: o.dashboard_port,
    });
    let bearer = super::canary::demo_bearer(config.subscribe());
    let canary = Canary::new(calls.clone(), bus.clone(), o.ports.gateway, linker, bearer);
    let mut mesh = Mesh {
        o,
        fleet,
        proxies: &mut proxies,
        layout,
        config,
        canary,
        bus: bus.clone(),
        ambient: dataplane.as_ref(),
        live_ambient,
        restart: false,
    };
    // Tell the user (and tests) the mesh is up.
    banner(o, topology, layout, mesh.config.current().scenario());
    if let Err(e) = crate::scenario::write_applied(&o.state_dir, mesh.config.current().scenario()) {
        eprintln!("kyc-mesh: {}: {e}", o.state_dir.display());
    }

    loop {
        report::write(&report::View {
            o,
            topology,
            layout,
            fleet: mesh.fleet,
            mesh: mesh.proxies,
            scenario: mesh.config.current().scenario(),
            ambient: mesh.ambient.map(|(w, al)| {
                let now = mesh.live_ambient.as_ref().map_or(al, |l| l.layout());
                (w, now)
            }),
        });
        tokio::select! {
            Some((id, status)) = exits.recv() => {
                match mesh.proxies.by_proc(id).map(|p| (p.id, p.pod.as_ref())) {
                    Some((ProxyId::IngressGateway, _)) => {
                        eprintln!("kyc-mesh: envoy exited ({status}); stopping everything");
                        return Ok(Stopped::ProxyExited);
                    }
                    Some((ProxyId::Sidecar(name), pod)) => {
                        let pod = pod.map_or(name, |p| p.name.as_str());
                        eprintln!("kyc-mesh: the sidecar Envoy of {pod} exited ({status}); stopping everything");
                        return Ok(Stopped::ProxyExited);
                    }
                    None => {}
                }
                if let Some((_, name)) = ambient.iter().find(|(pid, _)| *pid == id) {
                    eprintln!("kyc-mesh: {name} exited ({status}); stopping everything");
                    return Ok(Stopped::ProxyExited);
                }
                if Some(id) == prometheus_id {
                    eprintln!("kyc-mesh: prometheus exited ({status}); the mesh runs on without it");
                    continue;
                }
                mesh.fleet.on_exit(id, &status);
            }
            Some(pod) = restarts.recv() => mesh.fleet.restart(&pod),
            Some(Call { op, reply }) = requests.recv() => {
                let outcome = control::handle(&mut mesh, op).await;
                let _ = reply.send(outcome);
            }
            Some(first) = watch.recv() => {
                let change = watch.settle(first).await;
                reconfigure::reload(&mut mesh, change).await;
            }
        }
        if mesh.restart {
            return Ok(Stopped::Restart);
        }
        watch.follow(mesh.config.current().scenario());
    }
}
