//! Live scaling, as `kubectl apply` of a Deployment with another `spec.replicas` (or
//! `kubectl scale`) acts: after a reload is applied, each workload whose replicas changed in
//! networking/ (or the scenario) gets instances started or stopped. A new instance (its app,
//! then its sidecar) becomes an endpoint of every cluster that targets its workload, and gets
//! requests once its readiness check passes; a removed one (the highest index first) stops
//! being an endpoint first, then drains and stops, as a terminating pod.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::snapshot::{Accepted, Snapshot};
use crate::supervise;
use crate::topology::Workload;

use super::error::UpError;
use super::fleet::Slot;
use super::layout::Layout;
use super::mesh::Mesh;
use super::probe::{client, push_chaos, readyz};

/// Start or stop instances so that each workload runs the `spec.replicas` of `snapshot`
/// (the generation just applied, translated as `accepted`). A failure is reported; what runs
/// stays.
pub(super) async fn to_replicas(mesh: &mut Mesh<'_>, snapshot: &Snapshot, accepted: &Accepted) {
    Scaler(mesh).scale(snapshot, accepted).await
}

/// The scaling of one mesh.
struct Scaler<'m, 'a>(&'m mut Mesh<'a>);

impl Scaler<'_, '_> {
    async fn scale(&mut self, snapshot: &Snapshot, accepted: &Accepted) {
        let o = self.0.o;
        if o.external_services {
            return;
        }
        let target = snapshot.replicas();
        for wi in 0..self.0.fleet.workloads.len() {
            let w = self.0.fleet.workloads[wi].clone();
            let want = target.get(w.name).copied().unwrap_or(1);
            if want == w.replicas {
                continue;
            }
            println!("kyc-mesh: {}: replicas {} → {want}", w.name, w.replicas);
            self.0.fleet.workloads[wi].replicas = want;
            let running = |live: &Self| {
                let slots = live.0.fleet.slots.iter();
                slots.filter(|s| s.workload.name == w.name).count()
            };
            while running(self) < want as usize {
                let index = running(self);
                if let Err(e) = self.scale_up(&w, index, accepted).await {
                    eprintln!("kyc-mesh: {}: instance {index} not started ({}); {} instances keep running", w.name, crate::errors::chain(&e), running(self));
                    break;
                }
            }
            while running(self) > want as usize {
                self.scale_down(&w, running(self) - 1).await;
            }
            // After a failed start, what runs: the next reload tries again.
            let now = running(self) as u32;
            if now != want {
                self.0.fleet.workloads[wi].replicas = now;
            }
        }
    }

    /// Start instance `index` of `w`: its app, ready, then its sidecar; then every proxy
    /// lists it.
    async fn scale_up(
        &mut self,
        w: &Workload,
        index: usize,
        accepted: &Accepted,
    ) -> Result<(), UpError> {
        let o = self.0.o;
        let sidecar_config = accepted.sidecars.get(w.name);
        let with_sidecar =
            self.0.layout.plan.sidecars.contains_key(w.name) && sidecar_config.is_some();
        // Never a port the mesh was told to use, nor one an instance holds (a restarting
        // instance's port is free for a moment).
        let mut reserved: BTreeSet<u16> = o.reserved_ports();
        for s in &self.0.fleet.slots {
            reserved.insert(s.port);
            if let Some(sc) = s.pod.sidecar {
                reserved.extend([sc.inbound, sc.outbound, sc.admin]);
            }
        }
        let pod = Layout::allocate_pod(w, index, with_sidecar, &reserved)?;
        let mut slot = Slot::new(w, pod, self.0.fleet.backoff());
        // Ambient mode: its node proxy listens for it (and for its calls) before it starts.
        let ambient = match &mut self.0.live_ambient {
            Some(live) if live.in_dataplane(w.name) => {
                let calls = live.add(w, &slot.pod.name, slot.port, &reserved).await?;
                if let Some(port) = calls {
                    self.0.fleet.call_through(&slot.pod.name, port);
                }
                true
            }
            _ => false,
        };
        let instance = self.0.fleet.spawn(&slot, slot.port)?;
        let url = readyz(slot.port);
        supervise::wait_ready(&client()?, &instance.proc, &url, self.0.fleet.ready_timeout).await?;
        if let (true, Some(live)) = (ambient, &mut self.0.live_ambient) {
            live.serve(&slot.pod.name, true).await?;
        }
        // Chaos set on the whole service reaches its new instance too.
        if let Some(chaos) = self.0.fleet.chaos.get(w.binary).copied() {
            push_chaos(slot.port, Some(chaos)).await?;
            slot.chaos = Some(chaos);
        }
        slot.instance = Some(instance);
        let mut at = self.0.fleet.serving();
        at.apps.insert(slot.pod.name.clone(), vec![slot.port]);
        if let (true, Some(config)) = (with_sidecar, sidecar_config) {
            let exits = self.0.fleet.exits.clone();
            let (proxy, proc) =
                super::envoys::start_sidecar(o, self.0.proxies, &slot, config, &at, &exits).await?;
            slot.sidecar = Some(proc);
            // Sidecars first: see `Proxies::all`.
            self.0.proxies.all.insert(0, proxy);
        }
        let (name, port) = (slot.pod.name.clone(), slot.pod.front().unwrap_or(slot.port));
        self.0.fleet.add(slot);
        self.0
            .proxies
            .reserve(&self.0.fleet.serving())
            .await
            .map_err(|error| UpError::NotAnEndpoint {
                name: name.clone(),
                error,
            })?;
        println!("kyc-mesh: {name} started on 127.0.0.1:{port}; an endpoint of {} once its readiness check passes", w.name);
        Ok(())
    }

    /// Stop instance `index` of `w`: no longer an endpoint, then its app drains and stops,
    /// then its sidecar.
    async fn scale_down(&mut self, w: &Workload, index: usize) {
        let Some(i) = self
            .0
            .fleet
            .slots
            .iter()
            .position(|s| s.workload.name == w.name && s.pod.index == index)
        else {
            return;
        };
        let mut slot = self.0.fleet.slots.remove(i);
        let name = slot.pod.name.clone();
        let ambient = self
            .0
            .live_ambient
            .as_ref()
            .is_some_and(|l| l.carries(&name));
        if let (true, Some(live)) = (ambient, &mut self.0.live_ambient) {
            if let Err(e) = live.serve(&name, false).await {
                eprintln!("kyc-mesh: {name}: the waypoint did not drop it as an endpoint ({e}); stopping it anyway (it drains first)");
            }
        }
        if let Err(e) = self.0.proxies.reserve(&self.0.fleet.serving()).await {
            eprintln!("kyc-mesh: {name}: Envoy did not drop it as an endpoint ({e}); stopping it anyway (it drains first)");
        }
        // No longer part of the mesh: its sidecar's exit does not stop `up`.
        self.0
            .proxies
            .all
            .retain(|p| p.pod.as_ref().is_none_or(|p| p.name != name));
        let drained = match slot.instance.take() {
            Some(mut i) => i.proc.stop(Duration::from_secs(30)).await,
            None => true,
        };
        if let Some(mut sidecar) = slot.sidecar.take() {
            sidecar.stop(Duration::from_secs(10)).await;
        }
        if let (true, Some(live)) = (ambient, &mut self.0.live_ambient) {
            if let Err(e) = live.remove(&name).await {
                eprintln!("kyc-mesh: {name}: its node proxy did not drop it ({e})");
            }
        }
        let how = if drained {
            "drained and stopped"
        } else {
            "did not stop within 30 s"
        };
        println!("kyc-mesh: {name} removed ({how})");
    }
}
