//! Where the ambient data plane listens (ambient mode in `up`, see `super::ambient`): decided
//! before anything starts ([`AmbientLayout::allocate`]): each ambient instance's HBONE port
//! (its pod's 15008), the entry workload's outbound listeners (one per Service a waypoint
//! serves: its calls go there, as a pod's calls are captured), each node proxy's admin port
//! and each waypoint's HBONE and admin ports; instances added later get theirs from
//! `super::ambient_plan`.

use std::collections::{BTreeMap, BTreeSet};

use crate::snapshot::Accepted;
use crate::topology::Topology;

use super::layout::{Layout, Picker};

/// The name of node `i` (0-based): `node-1`, `node-2`, …
pub(crate) fn node_name(i: usize) -> String {
    format!("node-{}", i + 1)
}

/// One waypoint's ports and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaypointPorts {
    pub(crate) hbone: u16,
    pub(crate) admin: u16,
    pub(crate) spiffe: String,
}

/// Where every part of the ambient data plane listens.
#[derive(Debug, Clone, Default)]
pub(crate) struct AmbientLayout {
    /// Each node proxy's admin port (`/metrics`, `/healthz`), node by node.
    pub(crate) nodes: Vec<u16>,
    /// The node of each instance (by pod name): round robin over the nodes.
    pub(crate) node_of: BTreeMap<String, usize>,
    /// Each ambient instance's HBONE port (by pod name).
    pub(crate) hbone: BTreeMap<String, u16>,
    /// The entry workload's instances' outbound listeners: (pod, `fqdn:port`, port).
    pub(crate) outbound: Vec<(String, String, u16)>,
    /// By waypoint name.
    pub(crate) waypoints: BTreeMap<String, WaypointPorts>,
}

impl AmbientLayout {
    /// Ports for the ambient workloads of `layout`; `None` when there is none.
    pub(super) fn allocate(
        ambient: &BTreeSet<&'static str>,
        topology: &Topology,
        layout: &Layout,
        accepted: &Accepted,
        reserved: &BTreeSet<u16>,
        nodes: usize,
    ) -> std::io::Result<Option<AmbientLayout>> {
        if ambient.is_empty() {
            return Ok(None);
        }
        let mut picker = Picker::new(reserved);
        let mut al = AmbientLayout::default();
        for _ in 0..nodes.max(1) {
            al.nodes.push(picker.next()?);
        }
        let entry = topology.entry().name;
        for (workload, pods) in &layout.pods {
            if !ambient.contains(workload) {
                continue;
            }
            for pod in pods {
                let node = al.node_of.len() % al.nodes.len();
                al.node_of.insert(pod.name.clone(), node);
                al.hbone.insert(pod.name.clone(), picker.next()?);
                if *workload == entry {
                    for w in &accepted.waypoints {
                        for s in &w.services {
                            let authority = format!("{}:{}", s.fqdn(), s.port);
                            al.outbound
                                .push((pod.name.clone(), authority, picker.next()?));
                        }
                    }
                }
            }
        }
        for w in &accepted.waypoints {
            let ports = WaypointPorts {
                hbone: picker.next()?,
                admin: picker.next()?,
                spiffe: w.identity.uri().to_string(),
            };
            al.waypoints.insert(w.name.clone(), ports);
        }
        Ok(Some(al))
    }

    /// What the status file says of it.
    pub(super) fn status(
        &self,
        workloads: &BTreeSet<&'static str>,
    ) -> crate::status::AmbientStatus {
        crate::status::AmbientStatus {
            workloads: workloads.iter().map(|w| w.to_string()).collect(),
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, admin)| crate::status::NodeStatus {
                    name: node_name(i),
                    admin: *admin,
                    pods: self
                        .node_of
                        .iter()
                        .filter(|(_, n)| **n == i)
                        .map(|(pod, _)| pod.clone())
                        .collect(),
                })
                .collect(),
            hbone: self.hbone.clone(),
            outbound: self
                .outbound
                .iter()
                .map(|(pod, service, port)| crate::status::OutboundStatus {
                    pod: pod.clone(),
                    service: service.clone(),
                    port: *port,
                })
                .collect(),
            waypoints: self
                .waypoints
                .iter()
                .map(|(name, p)| crate::status::WaypointStatus {
                    name: name.clone(),
                    hbone: p.hbone,
                    admin: p.admin,
                    spiffe: p.spiffe.clone(),
                })
                .collect(),
        }
    }

    /// Where each instance's calls go: its first outbound listener (by pod name).
    pub(super) fn calls(&self) -> BTreeMap<String, u16> {
        let mut calls = BTreeMap::new();
        for (pod, _, port) in &self.outbound {
            calls.entry(pod.clone()).or_insert(*port);
        }
        calls
    }
}
