//! Where each part of a mesh with sidecars listens: decided once by `up`, before anything
//! starts. An injected workload keeps its contract port for its sidecar's inbound (every
//! caller is told that one); its app, its sidecar's outbound and admin get free loopback
//! ports nobody else is told about, as the app container and Envoy's 15001/15000 inside a pod.

use std::collections::{BTreeMap, BTreeSet};

use crate::topology::{SidecarPlan, SidecarPorts, Topology};

/// The allocated ports of the injected workloads (empty for the edge-only mesh).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The sidecars and where their certificates go.
    pub plan: SidecarPlan,
    /// Workload → the port its app instance starts on.
    pub app: BTreeMap<&'static str, u16>,
    /// Topology ports that are sidecar inbounds (see `apply::endpoints::serve_from_mesh`).
    pub behind_sidecars: BTreeSet<u16>,
}

impl Layout {
    /// Allocate free loopback ports for each injected workload: all held at once while
    /// choosing, so no two are the same, and never one of `reserved` (the ports the mesh
    /// was told to use but has not bound yet: the contract ports its sidecars' inbounds
    /// take, the gateway, admin, Prometheus and dashboard). The kernel hands out any port
    /// that is free *now*, and a contract port is free until its sidecar starts.
    pub fn allocate(
        topology: &Topology,
        injected: &BTreeSet<&'static str>,
        reserved: &BTreeSet<u16>,
        certs: std::path::PathBuf,
    ) -> std::io::Result<Layout> {
        let mut held = Vec::new();
        let mut next = || -> std::io::Result<u16> {
            loop {
                let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
                let port = l.local_addr()?.port();
                // Held either way: a reserved port is not offered again while choosing.
                held.push(l);
                if !reserved.contains(&port) {
                    return Ok(port);
                }
            }
        };
        let mut layout = Layout::default();
        layout.plan.certs = certs;
        for w in topology
            .workloads
            .iter()
            .filter(|w| injected.contains(w.name))
        {
            layout.app.insert(w.name, next()?);
            let sp = SidecarPorts {
                outbound: next()?,
                admin: next()?,
            };
            layout.plan.sidecars.insert(w.name, sp);
            layout.behind_sidecars.insert(w.port);
        }
        Ok(layout)
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
        let topology = Topology::new(&Ports::default());
        let injected = topology.workloads.iter().map(|w| w.name).collect();
        let layout =
            Layout::allocate(&topology, &injected, &reserved, "certs".into()).expect("allocate");
        let mut given: Vec<u16> = layout.app.values().copied().collect();
        for sp in layout.plan.sidecars.values() {
            given.extend([sp.outbound, sp.admin]);
        }
        assert_eq!(given.len(), 3 * topology.workloads.len());
        assert!(given.iter().all(|p| !reserved.contains(p)), "{given:?}");
        let unique: BTreeSet<_> = given.iter().collect();
        assert_eq!(unique.len(), given.len(), "{given:?}");
    }
}
