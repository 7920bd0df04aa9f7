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
    /// choosing, so no two are the same.
    pub fn allocate(
        topology: &Topology,
        injected: &BTreeSet<&'static str>,
        certs: std::path::PathBuf,
    ) -> std::io::Result<Layout> {
        let mut held = Vec::new();
        let mut next = || -> std::io::Result<u16> {
            let l = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            let port = l.local_addr()?.port();
            held.push(l);
            Ok(port)
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
