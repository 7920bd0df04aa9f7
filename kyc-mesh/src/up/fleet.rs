//! The service instances of the running mesh, kubelet-like: start every instance (pod) of
//! each workload of the topology, restart one that exits (capped exponential back-off per
//! instance, unless `--restart never`), and know which instances serve which workload (a
//! rollout replaces them one at a time, see `super::rollout`; chaos is set on them by
//! `super::chaos`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::{broadcast, mpsc};

use crate::apply::endpoints::Placement;
use crate::envoy::health::READINESS_REACTION_MS;
use crate::ops::{ChaosSetting, MeshEvent, Refusal, Refused};
use crate::supervise::{self, Backoff, Exit, Proc, RestartPolicy};
use crate::topology::{Topology, Workload};

use super::error::UpError;
use super::layout::{Layout, Pod};
use super::options::UpOptions;
use super::probe::{client, push_chaos, readyz, wait_http_ok};

/// How long a service keeps serving after SIGTERM under the local mesh, unless
/// `KYC_DRAIN_MS` is set: longer than Envoy takes to stop sending it requests (its
/// readiness probes), as the cluster's 5 s outlast endpoint propagation.
pub(crate) const LOCAL_DRAIN_MS: u64 = READINESS_REACTION_MS + 1000;

/// One running process of a workload.
pub(super) struct Instance {
    pub(crate) proc: Proc,
    pub(crate) port: u16,
    started: Instant,
}

/// One instance (pod) of a workload and its running process.
pub(super) struct Slot {
    pub(crate) workload: Workload,
    /// Its name, index and sidecar ports.
    pub(crate) pod: Pod,
    /// Where its app listens (the layout's port until a rollout moves it).
    pub(crate) port: u16,
    /// None while it waits for a restart.
    pub(crate) instance: Option<Instance>,
    backoff: Backoff,
    restarts: u32,
    /// Runtime chaos of this instance (`kyc-mesh chaos`): given again to its next process
    /// before it serves.
    pub(crate) chaos: Option<ChaosSetting>,
    /// Its sidecar's Envoy process (stopped with the instance: scaling down, shutdown).
    pub(crate) sidecar: Option<Proc>,
}

impl Slot {
    pub(super) fn new(workload: &Workload, pod: Pod, backoff: Backoff) -> Slot {
        Slot {
            port: pod.app,
            workload: workload.clone(),
            pod,
            instance: None,
            backoff,
            restarts: 0,
            chaos: None,
            sidecar: None,
        }
    }
}

/// How to start a service instance (an injected one's calls go to its sidecar's outbound
/// listener instead of the gateway).
struct Launch {
    bin_dir: PathBuf,
    gateway_port: u16,
    /// Ambient mode: the node proxy's outbound listener an instance's calls go to (by pod).
    node_outbound: BTreeMap<String, u16>,
    service_env: Vec<(String, String, String)>,
}

pub(super) struct Fleet {
    backoff: Backoff,
    /// The workloads it runs (none with `--external-services`), a `replicas: 0` one too.
    pub(crate) workloads: Vec<Workload>,
    /// Every instance, workload by workload, in index order.
    pub(crate) slots: Vec<Slot>,
    policy: RestartPolicy,
    launch: Launch,
    pub(crate) ready_timeout: Duration,
    pub(crate) exits: mpsc::UnboundedSender<Exit>,
    /// The instance (by name: slots come and go with scaling) whose restart is due.
    restart_due: mpsc::UnboundedSender<String>,
    /// Runtime chaos set on a whole service (what `state` reports; each instance's own is
    /// [`Slot::chaos`]).
    pub(crate) chaos: BTreeMap<String, ChaosSetting>,
    pub(crate) bus: broadcast::Sender<MeshEvent>,
}

impl Fleet {
    /// The instances `up` runs (none with `--external-services`), where `layout` places
    /// them; restarts come due on the returned receiver (an instance name, for
    /// [`Fleet::restart`]).
    pub(super) fn new(
        o: &UpOptions,
        topology: &Topology,
        layout: &Layout,
        exits: &mpsc::UnboundedSender<Exit>,
        bus: &broadcast::Sender<MeshEvent>,
    ) -> (Self, mpsc::UnboundedReceiver<String>) {
        let workloads = if o.external_services {
            Vec::new()
        } else {
            topology.workloads.clone()
        };
        let slots = workloads
            .iter()
            .flat_map(|w| {
                let pods = layout.pods.get(w.name).cloned().unwrap_or_default();
                pods.into_iter().map(|pod| Slot::new(w, pod, o.backoff))
            })
            .collect();
        let (restart_due, due) = mpsc::unbounded_channel();
        let fleet = Fleet {
            backoff: o.backoff,
            workloads,
            slots,
            policy: o.restart,
            launch: Launch {
                bin_dir: o.bin_dir.clone(),
                gateway_port: o.ports.gateway,
                node_outbound: BTreeMap::new(),
                service_env: o.service_env.clone(),
            },
            ready_timeout: o.ready_timeout,
            exits: exits.clone(),
            restart_due,
            chaos: BTreeMap::new(),
            bus: bus.clone(),
        };
        (fleet, due)
    }

    /// Ambient mode: the calls of these instances (by pod name) go to their node proxy's
    /// outbound listener.
    pub(super) fn call_through_node_proxy(&mut self, outbound: BTreeMap<String, u16>) {
        self.launch.node_outbound = outbound;
    }

    /// Ambient mode: a new instance's calls go to its node proxy's outbound listener `port`.
    pub(super) fn call_through(&mut self, pod: &str, port: u16) {
        self.launch.node_outbound.insert(pod.to_string(), port);
    }

    /// Start every instance and wait until each one is ready.
    pub(super) async fn start_all(&mut self) -> Result<(), UpError> {
        for i in 0..self.slots.len() {
            let port = self.slots[i].port;
            let instance = self.spawn(&self.slots[i], port)?;
            self.slots[i].instance = Some(instance);
        }
        for slot in &self.slots {
            if let Some(i) = &slot.instance {
                let url = readyz(i.port);
                supervise::wait_ready(&client()?, &i.proc, &url, self.ready_timeout).await?;
            }
        }
        Ok(())
    }

    /// Start a process for `slot`'s instance listening on `port`.
    pub(super) fn spawn(&self, slot: &Slot, port: u16) -> Result<Instance, UpError> {
        let w = &slot.workload;
        let l = &self.launch;
        let path = l.bin_dir.join(w.binary);
        if !path.is_file() {
            return Err(UpError::BinaryMissing(path));
        }
        let mut cmd = Command::new(&path);
        let calls_go_to = match (slot.pod.sidecar, l.node_outbound.get(&slot.pod.name)) {
            (Some(s), _) => s.outbound,
            (None, Some(node)) => *node,
            (None, None) => l.gateway_port,
        };
        // The pod name, as the Deployments' `fieldRef: metadata.name`: `x-kyc-served-by` tells
        // the instances apart.
        cmd.env("KYC_INSTANCE", &slot.pod.name)
            .env("KYC_PORT", port.to_string())
            .env("KYC_HOST", "127.0.0.1")
            .env("KYC_GATEWAY_URL", format!("http://127.0.0.1:{calls_go_to}"));
        // Runtime chaos (`kyc-mesh chaos`) reaches the services through `/admin/chaos`.
        for (key, value) in [
            ("KYC_LOG_FORMAT", "pretty".to_string()),
            ("KYC_DRAIN_MS", LOCAL_DRAIN_MS.to_string()),
            ("KYC_CHAOS_API", "true".to_string()),
        ] {
            if std::env::var_os(key).is_none() {
                cmd.env(key, value);
            }
        }
        for (_, k, v) in l.service_env.iter().filter(|(b, _, _)| b == w.binary) {
            cmd.env(k, v);
        }
        let proc = supervise::spawn(w.binary, cmd, &self.exits)?;
        Ok(Instance {
            proc,
            port,
            started: Instant::now(),
        })
    }

    /// A process exited: if it was a slot's instance, report it and schedule its restart.
    pub(super) fn on_exit(&mut self, id: usize, status: &str) {
        let Some(index) = self
            .slots
            .iter()
            .position(|s| s.instance.as_ref().is_some_and(|i| i.proc.id == id))
        else {
            return; // an instance a rollout replaced
        };
        let slot = &mut self.slots[index];
        let ran_for = slot
            .instance
            .take()
            .map_or(Duration::ZERO, |i| i.started.elapsed());
        let name = slot.workload.binary;
        let _ = self.bus.send(MeshEvent::ServiceExited {
            service: name.to_string(),
            status: status.to_string(),
        });
        if self.policy == RestartPolicy::Never {
            eprintln!("kyc-mesh: service {name} exited ({status}), instance {}; the rest keeps running, the gateway answers 503 for routes that need it (like a dead pod); --restart never: not restarted", slot.pod.name);
            return;
        }
        self.schedule(index, ran_for, &format!("exited ({status})"));
    }

    /// Restart slot `index` after its back-off.
    fn schedule(&mut self, index: usize, ran_for: Duration, what: &str) {
        let slot = &mut self.slots[index];
        let delay = slot.backoff.next(ran_for);
        slot.restarts += 1;
        eprintln!(
            "kyc-mesh: service {} {what}, instance {}; restarting in {delay:?} (restart {}, back-off {:?} doubling to {:?}); until it is ready the gateway sends its requests to the other instances, or answers 503 without one",
            slot.workload.binary, slot.pod.name, slot.restarts, slot.backoff.initial, slot.backoff.max
        );
        let (due, pod) = (self.restart_due.clone(), slot.pod.name.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = due.send(pod);
        });
    }

    /// Restart instance `pod` (a restart came due).
    pub(super) fn restart(&mut self, pod: &str) {
        let Some(index) = self.slots.iter().position(|s| s.pod.name == pod) else {
            return; // scaled down meanwhile
        };
        let slot = &self.slots[index];
        if slot.instance.is_some() {
            return; // a rollout already replaced it
        }
        let name = slot.workload.binary;
        let pod = slot.pod.name.clone();
        match self.spawn(slot, slot.port) {
            Ok(instance) => {
                let (port, pid, n) = (instance.port, instance.proc.pid, slot.restarts);
                let chaos = slot.chaos;
                self.slots[index].instance = Some(instance);
                let timeout = self.ready_timeout;
                let bus = self.bus.clone();
                tokio::spawn(async move {
                    let ready = match client() {
                        Ok(c) => wait_http_ok(&c, &readyz(port), timeout).await,
                        Err(_) => false,
                    };
                    if !ready {
                        return;
                    }
                    if chaos.is_some() {
                        if let Err(e) = push_chaos(port, chaos).await {
                            eprintln!("kyc-mesh: service {name}: runtime chaos not restored: {e}");
                        }
                    }
                    let pid = pid.unwrap_or(0);
                    println!("kyc-mesh: service {name} restarted (restart {n}, pid {pid}, instance {pod}) and ready on 127.0.0.1:{port}; the gateway sends it requests again");
                    let _ = bus.send(MeshEvent::ServiceRestarted {
                        service: name.to_string(),
                        pid,
                        port,
                    });
                });
            }
            Err(e) => self.schedule(
                index,
                Duration::ZERO,
                &format!("could not be started ({})", crate::errors::chain(&e)),
            ),
        }
    }

    /// Which instances serve each workload now: every instance is an endpoint (Envoy's
    /// readiness checks keep one that is not ready, or restarting, out of the rotation), a
    /// `replicas: 0` workload has none; behind each sidecar, its own app.
    pub(super) fn serving(&self) -> Placement {
        let mut placement = Placement::default();
        for w in &self.workloads {
            let fronts = self
                .slots
                .iter()
                .filter(|s| s.workload.name == w.name)
                .map(|s| s.pod.front().unwrap_or(s.port))
                .collect();
            placement.serving.insert(w.port, fronts);
        }
        for s in &self.slots {
            placement.apps.insert(s.pod.name.clone(), vec![s.port]);
        }
        placement
    }

    /// The instances of service `service` (slot indices), or the refusal naming the known
    /// services.
    pub(super) fn instances_of(&self, service: &str) -> Result<Vec<usize>, Refused> {
        if self.workloads.iter().any(|w| w.binary == service) {
            return Ok((0..self.slots.len())
                .filter(|&i| self.slots[i].workload.binary == service)
                .collect());
        }
        let known: Vec<&str> = self.workloads.iter().map(|w| w.binary).collect();
        Err(if known.is_empty() {
            Refused::new(
                Refusal::Unavailable,
                "this kyc-mesh up runs with --external-services: it has no instances of its own",
            )
        } else {
            Refused::new(
                Refusal::UnknownService,
                format!("unknown service {service:?} (one of {})", known.join(", ")),
            )
        })
    }

    /// Stop every instance (SIGTERM; they drain, then exit).
    pub(super) async fn stop_all(&mut self) {
        let mut procs: Vec<Proc> = self
            .slots
            .iter_mut()
            .flat_map(|s| [s.instance.take().map(|i| i.proc), s.sidecar.take()])
            .flatten()
            .collect();
        supervise::stop_all(&mut procs).await;
    }

    /// A new instance (scaling up), after the workload's others; its index.
    pub(super) fn add(&mut self, slot: Slot) -> usize {
        let at = self
            .slots
            .iter()
            .rposition(|s| s.workload.name == slot.workload.name)
            .map_or(self.slots.len(), |i| i + 1);
        self.slots.insert(at, slot);
        at
    }

    /// The back-off a new instance starts with.
    pub(super) fn backoff(&self) -> Backoff {
        self.backoff
    }
}
