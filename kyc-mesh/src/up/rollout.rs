//! `kyc-mesh rollout restart SERVICE`, as `kubectl rollout restart` does it with
//! maxSurge 1 / maxUnavailable 0, one instance at a time: start a new process on a fresh
//! port, wait until it is ready, add it to the instance's endpoints, remove the old one
//! (both through the same confirmed reload as an edit of networking/), wait until Envoy
//! routes to the new endpoints only, then let the old process drain and stop; then the
//! next instance.

use std::time::Duration;

use crate::apply::admin::poll;
use crate::ops::{MeshEvent, Outcome, Refusal};
use crate::supervise;

use super::fleet::Fleet;
use super::probe::{client, push_chaos, readyz};
use super::proxies::Proxies;
use super::waypoints::LiveAmbient;

/// Envoy's gauge of clusters still waiting for their first health check round.
const WARMING: &str = "cluster_manager.warming_clusters";

/// A free loopback port for the new instance.
fn fresh_port() -> std::io::Result<u16> {
    Ok(super::ports::bind_free()?.local_addr()?.port())
}

/// With a sidecar, only its inbound cluster moves (the gateway's endpoint for the workload is
/// the sidecar, which stays); without, the gateway's clusters do; in ambient mode, also the
/// instance's node proxy inbound and the waypoints' endpoints (`ambient`).
pub(super) async fn restart(
    fleet: &mut Fleet,
    mesh: &mut Proxies,
    mut ambient: Option<&mut LiveAmbient>,
    service: &str,
) -> Outcome {
    let indices = match fleet.instances_of(service) {
        Ok(i) if i.is_empty() => {
            return Outcome::refused(
                Refusal::Unavailable,
                format!("{service} has replicas: 0; nothing to restart"),
            )
        }
        Ok(i) => i,
        Err(refused) => return refused.into(),
    };
    let mut done = Vec::new();
    for index in indices {
        match restart_instance(fleet, index, mesh, ambient.as_deref_mut()).await {
            Outcome::Done { message, .. } => done.push(message),
            other if done.is_empty() => return other,
            Outcome::Refused(r) => return stopped_there(&done, &r.message),
            Outcome::Failed { message } => return stopped_there(&done, &message),
        }
    }
    Outcome::done(done.join("; "))
}

fn stopped_there(done: &[String], message: &str) -> Outcome {
    Outcome::failed(format!("{}; stopped there: {message}", done.join("; ")))
}

/// Replace the process of instance `index` (maxSurge 1, maxUnavailable 0).
async fn restart_instance(
    fleet: &mut Fleet,
    index: usize,
    mesh: &mut Proxies,
    mut ambient: Option<&mut LiveAmbient>,
) -> Outcome {
    let service = fleet.slots[index].workload.binary;
    let pod = fleet.slots[index].pod.name.clone();
    let Some(old_port) = fleet.slots[index].instance.as_ref().map(|i| i.port) else {
        return Outcome::refused(
            Refusal::Unavailable,
            format!("{pod} is not running (waiting for a restart); try again when it is ready"),
        );
    };
    let port = match fresh_port() {
        Ok(p) => p,
        Err(e) => return Outcome::failed(format!("no free port for the new instance: {e}")),
    };
    println!(
        "kyc-mesh: rollout restart {service}: starting a new process for {pod} on 127.0.0.1:{port}"
    );
    let mut new = match fleet.spawn(&fleet.slots[index], port) {
        Ok(i) => i,
        Err(e) => {
            return Outcome::failed(format!(
                "{}; the old instance keeps serving",
                crate::errors::chain(&e)
            ))
        }
    };
    let ready = match client() {
        Ok(c) => supervise::wait_ready(&c, &new.proc, &readyz(port), fleet.ready_timeout)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    // Runtime chaos follows the service to its new instance before it serves.
    let ready = match (ready, fleet.slots[index].chaos) {
        (Ok(()), Some(chaos)) => push_chaos(port, Some(chaos))
            .await
            .map_err(|e| e.to_string()),
        (ready, _) => ready,
    };
    if let Err(e) = ready {
        new.proc.stop(Duration::from_secs(20)).await;
        return Outcome::failed(format!(
            "the new instance did not become ready ({e}); the old instance keeps serving"
        ));
    }
    let home = fleet.slots[index].workload.port;
    let behind_sidecar = fleet.slots[index].pod.sidecar.is_some();
    let now = fleet.serving();
    // Surge: both processes serve, then only the new one: behind the instance's sidecar,
    // or (without sidecars) among the workload's endpoints; in ambient mode behind its node
    // proxy and in the waypoints' endpoints too.
    let ambient_pod = ambient.as_deref().is_some_and(|a| a.carries(&pod));
    for ports in [vec![old_port, port], vec![port]] {
        if let Some(a) = ambient.as_deref_mut().filter(|_| ambient_pod) {
            if let Err(e) = a.place(&pod, &ports).await {
                let _ = a.place(&pod, &[old_port]).await;
                new.proc.stop(Duration::from_secs(20)).await;
                return Outcome::failed(format!(
                    "moving {pod}'s HBONE traffic failed ({e}); the old instance keeps serving"
                ));
            }
        }
        let mut at = now.clone();
        if behind_sidecar {
            at.apps.insert(pod.clone(), ports);
        } else if let Some(fronts) = at.serving.get_mut(&home) {
            fronts.retain(|&p| p != old_port);
            fronts.extend(ports);
        }
        if let Err(e) = mesh.reserve(&at).await {
            new.proc.stop(Duration::from_secs(20)).await;
            return Outcome::failed(format!(
                "moving traffic failed ({e}); the old instance keeps serving"
            ));
        }
    }
    let warm = match mesh.admin_for(&pod) {
        Some(admin) => {
            poll(
                Duration::from_secs(10),
                Duration::from_millis(20),
                || async { (admin.stat(WARMING).await.ok() == Some(0)).then_some(()) },
            )
            .await
        }
        None => Some(()),
    };
    if warm.is_none() {
        eprintln!("kyc-mesh: rollout restart {service}: Envoy still warms clusters after 10 s; stopping the old instance anyway (it drains first)");
    }
    let slot = &mut fleet.slots[index];
    slot.port = port;
    let pid = new.proc.pid.unwrap_or(0);
    let old = slot.instance.replace(new);
    println!("kyc-mesh: rollout restart {service}: the gateway sends {pod}'s new requests to pid {pid} on 127.0.0.1:{port}; draining the old process");
    let stopped = match old {
        Some(mut o) => o.proc.stop(Duration::from_secs(30)).await,
        None => true,
    };
    let message = format!(
        "{service} restarted: {pod}: new process pid {pid} on 127.0.0.1:{port} serves; the old one (127.0.0.1:{old_port}) {}",
        if stopped { "drained and stopped" } else { "did not stop within 30 s" }
    );
    println!("kyc-mesh: rollout restart {message}");
    let _ = fleet.bus.send(MeshEvent::ServiceRestarted {
        service: service.to_string(),
        pid,
        port,
    });
    Outcome::done(message)
}
