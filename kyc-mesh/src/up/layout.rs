//! Where each part of the mesh listens: decided once by `up`, before anything starts. A
//! workload runs `spec.replicas` instances (pods). Instance 0 keeps the workload's contract
//! port (every caller is told that one): its sidecar's inbound, or the app itself without a
//! sidecar. Every other port (the apps behind sidecars, instances ≥ 1, each sidecar's
//! inbound, outbound and admin) is a free loopback port nobody else is told about, as a pod's
//! IP, its app container and Envoy's 15001/15000.

use std::collections::{BTreeMap, BTreeSet};

use crate::topology::{SidecarPlan, SidecarPorts, Topology, Workload};

/// The ports of one instance's sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PodSidecar {
    /// What callers send to (the gateway's and other sidecars' endpoint for this instance).
    pub(crate) inbound: u16,
    pub(crate) outbound: u16,
    pub(crate) admin: u16,
}

/// One instance of a workload: its name (`<workload>-<index>`), where its app starts and its
/// sidecar, if injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pod {
    pub(crate) workload: &'static str,
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) app: u16,
    pub(crate) sidecar: Option<PodSidecar>,
}

impl Pod {
    /// The port callers reach this instance on: its sidecar's inbound, else its app (which a
    /// rollout may move: see `Fleet::serving`).
    pub(super) fn front(&self) -> Option<u16> {
        self.sidecar.map(|s| s.inbound)
    }
}

/// The allocated ports of every instance.
#[derive(Debug, Clone, Default)]
pub(super) struct Layout {
    /// The injected workloads (instance 0's outbound and admin, which translation writes into
    /// the workload's sidecar configuration; each instance's sidecar gets its own ports) and
    /// where their certificates go.
    pub(crate) plan: SidecarPlan,
    /// Every instance, by workload, in index order (none for a workload with `replicas: 0`).
    pub(crate) pods: BTreeMap<&'static str, Vec<Pod>>,
}

/// Free loopback ports, all held while choosing so no two are the same, never one of
/// `reserved` (the ports the mesh was told to use but has not bound yet: the contract ports,
/// the gateway, admin, Prometheus and dashboard). A contract port is free until its instance
/// starts, so it must be excluded by name ([`super::ports`] says where the others come from).
pub(super) struct Picker<'a> {
    held: Vec<std::net::TcpListener>,
    reserved: &'a BTreeSet<u16>,
}

impl<'a> Picker<'a> {
    pub(super) fn new(reserved: &'a BTreeSet<u16>) -> Picker<'a> {
        Picker {
            held: Vec::new(),
            reserved,
        }
    }

    pub(super) fn next(&mut self) -> std::io::Result<u16> {
        loop {
            let l = super::ports::bind_free()?;
            let port = l.local_addr()?.port();
            // Held either way: a reserved port is not offered again while choosing.
            self.held.push(l);
            if !self.reserved.contains(&port) {
                return Ok(port);
            }
        }
    }

    /// Instance `index` of `w`: index 0 on the contract port.
    fn pod(&mut self, w: &Workload, index: usize, with_sidecar: bool) -> std::io::Result<Pod> {
        let contract = (index == 0).then_some(w.port);
        let (app, sidecar) = if with_sidecar {
            let inbound = match contract {
                Some(p) => p,
                None => self.next()?,
            };
            let sidecar = PodSidecar {
                inbound,
                outbound: self.next()?,
                admin: self.next()?,
            };
            (self.next()?, Some(sidecar))
        } else {
            let app = match contract {
                Some(p) => p,
                None => self.next()?,
            };
            (app, None)
        };
        Ok(Pod {
            workload: w.name,
            index,
            name: Topology::pod_name(w.name, index),
            app,
            sidecar,
        })
    }
}

impl Layout {
    /// Allocate the ports of every instance of every workload (see [`Picker`]).
    pub(super) fn allocate(
        topology: &Topology,
        injected: &BTreeSet<&'static str>,
        reserved: &BTreeSet<u16>,
        certs: std::path::PathBuf,
    ) -> std::io::Result<Layout> {
        let mut picker = Picker {
            held: Vec::new(),
            reserved,
        };
        let mut layout = Layout::default();
        layout.plan.certs = certs;
        for w in &topology.workloads {
            let with_sidecar = injected.contains(w.name);
            let pods = (0..w.replicas as usize)
                .map(|index| picker.pod(w, index, with_sidecar))
                .collect::<std::io::Result<Vec<_>>>()?;
            if with_sidecar {
                // Translation programs the workload's sidecar once; without an instance its
                // ports are never bound.
                let sp = pods.first().and_then(|p| p.sidecar).map_or(
                    SidecarPorts {
                        outbound: 0,
                        admin: 0,
                    },
                    |s| SidecarPorts {
                        outbound: s.outbound,
                        admin: s.admin,
                    },
                );
                layout.plan.sidecars.insert(w.name, sp);
            }
            layout.pods.insert(w.name, pods);
        }
        Ok(layout)
    }

    /// The ports of one more instance (scaling up while the mesh runs).
    pub(super) fn allocate_pod(
        w: &Workload,
        index: usize,
        with_sidecar: bool,
        reserved: &BTreeSet<u16>,
    ) -> std::io::Result<Pod> {
        Picker {
            held: Vec::new(),
            reserved,
        }
        .pod(w, index, with_sidecar)
    }

    /// Every instance, workload by workload.
    #[cfg(test)]
    pub(super) fn all_pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Ports;

    #[test]
    fn never_hands_out_a_reserved_port() {
        // Reserve the next ports the kernel is likely to offer: every port it offers
        // while choosing is held, so the loop must skip the reserved ones it meets.
        let probe: Vec<_> = (0..64)
            .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind"))
            .collect();
        let reserved: BTreeSet<u16> = probe
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        drop(probe);
        let mut topology = Topology::new(&Ports::default());
        topology.workloads[2].replicas = 2;
        let injected = topology.workloads.iter().map(|w| w.name).collect();
        let layout =
            Layout::allocate(&topology, &injected, &reserved, "certs".into()).expect("allocate");
        let mut given: Vec<u16> = Vec::new();
        for pod in layout.all_pods() {
            let sidecar = pod.sidecar.expect("injected");
            given.extend([pod.app, sidecar.outbound, sidecar.admin]);
            if pod.index > 0 {
                given.push(sidecar.inbound);
            }
        }
        // 4 instances, the second advanced one with its own inbound.
        assert_eq!(given.len(), 3 * 4 + 1);
        assert!(given.iter().all(|p| !reserved.contains(p)), "{given:?}");
        let unique: BTreeSet<_> = given.iter().collect();
        assert_eq!(unique.len(), given.len(), "{given:?}");
    }
}

#[cfg(test)]
mod replicas {
    use super::*;
    use crate::topology::Ports;

    #[test]
    fn instance_zero_keeps_the_contract_port_and_zero_replicas_have_none() {
        let mut topology = Topology::new(&Ports::default());
        topology.workloads[1].replicas = 0;
        topology.workloads[2].replicas = 3;
        let (none, free) = (BTreeSet::new(), BTreeSet::new());
        let edge = Layout::allocate(&topology, &none, &free, "c".into()).expect("allocate");
        assert!(edge.pods["kyc-credit-check-basic"].is_empty());
        let advanced = &edge.pods["kyc-credit-check-advanced"];
        let names: Vec<&str> = advanced.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kyc-credit-check-advanced-0",
                "kyc-credit-check-advanced-1",
                "kyc-credit-check-advanced-2"
            ]
        );
        assert_eq!(advanced[0].app, 8082);
        assert!(advanced[1].app != 8082 && advanced[1].sidecar.is_none());
        let all = topology.workloads.iter().map(|w| w.name).collect();
        let mesh = Layout::allocate(&topology, &all, &free, "c".into()).expect("allocate");
        let advanced = &mesh.pods["kyc-credit-check-advanced"];
        assert_eq!(advanced[0].front(), Some(8082));
        assert!(advanced[0].app != 8082);
        assert!(advanced[2].front().is_some_and(|p| p != 8082));
        // An injected workload without instances still has its (unbound) sidecar plan.
        assert!(mesh.plan.sidecars.contains_key("kyc-credit-check-basic"));
    }
}
