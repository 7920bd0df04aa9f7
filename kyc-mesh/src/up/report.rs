//! The status file of the running mesh (`crate::status`), rebuilt from the fleet and the
//! proxies whenever `up` handles an event, and the local Prometheus' targets files from it.

use std::path::Path;

use crate::envoy::listener::InboundMtls;
use crate::identity::MeshCa;
use crate::status::{self, InstanceStatus, MeshStatus, PodStatus, SidecarStatus, WorkloadStatus};
use crate::topology::Topology;
use crate::translate::ProxyId;

use super::ambient_layout::AmbientLayout;
use super::fleet::Fleet;
use super::layout::Layout;
use super::options::UpOptions;
use super::proxies::Proxies;

pub(super) struct View<'a> {
    pub(crate) o: &'a UpOptions,
    pub(crate) topology: &'a Topology,
    pub(crate) layout: &'a Layout,
    pub(crate) fleet: &'a Fleet,
    pub(crate) mesh: &'a Proxies,
    pub(crate) scenario: Option<&'a Path>,
    /// Ambient mode: its workloads and where its data plane listens.
    /// Ambient mode: its workloads and where its data plane listens now.
    pub(crate) ambient: Option<(
        &'a std::collections::BTreeSet<&'static str>,
        &'a AmbientLayout,
    )>,
}

fn mode(m: Option<InboundMtls>) -> String {
    match m {
        Some(InboundMtls::Strict) => "STRICT",
        Some(InboundMtls::Permissive) => "PERMISSIVE",
        Some(InboundMtls::Disable) | None => "DISABLE",
    }
    .into()
}

/// Write the status file; a failure is reported, never fatal.
pub(super) fn write(v: &View<'_>) {
    let with_sidecars = !v.layout.plan.sidecars.is_empty();
    let identity = |id: ProxyId| {
        v.mesh
            .get(id)
            .and_then(|p| p.config.identity.as_ref())
            .map(|i| i.spiffe.uri().to_string())
    };
    let workloads = v
        .topology
        .workloads
        .iter()
        .map(|w| {
            let id = ProxyId::Sidecar(w.name);
            let mtls = mode(
                v.mesh
                    .get(id)
                    .and_then(|p| p.config.listeners.first())
                    .and_then(|l| l.listener.mtls),
            );
            let pods: Vec<PodStatus> = v
                .fleet
                .slots
                .iter()
                .filter(|s| s.workload.name == w.name)
                .map(|s| PodStatus {
                    name: s.pod.name.clone(),
                    port: s.pod.front().unwrap_or(s.port),
                    instance: s.instance.as_ref().map(|i| InstanceStatus {
                        pid: i.proc.pid.unwrap_or(0),
                        port: i.port,
                    }),
                    sidecar: s.pod.sidecar.map(|sc| SidecarStatus {
                        outbound: sc.outbound,
                        admin: sc.admin,
                        spiffe: identity(id).unwrap_or_default(),
                        mtls: mtls.clone(),
                    }),
                })
                .collect();
            let first = pods.first();
            WorkloadStatus {
                name: w.name.to_string(),
                port: w.port,
                instance: first.and_then(|p| p.instance.clone()),
                sidecar: first.and_then(|p| p.sidecar.clone()),
                // The fleet's: scaling changes it while the mesh runs.
                replicas: v
                    .fleet
                    .workloads
                    .iter()
                    .find(|f| f.name == w.name)
                    .map_or(w.replicas, |f| f.replicas),
                pods,
            }
        })
        .collect();
    let s = MeshStatus {
        pid: std::process::id(),
        gateway_port: v.o.ports.gateway,
        gateway_admin: v.o.ports.admin,
        gateway_identity: identity(ProxyId::IngressGateway),
        ca: (with_sidecars || v.ambient.is_some())
            .then(|| v.o.state_dir.join("ca").join(MeshCa::CERT)),
        scenario: v.scenario.map(Path::to_path_buf),
        workloads,
        ambient: v.ambient.map(|(w, al)| al.status(w)),
    };
    if let Err(e) = status::write(&v.o.state_dir, &s) {
        eprintln!(
            "kyc-mesh: status file {}: {e}",
            status::file(&v.o.state_dir).display()
        );
    }
    // The local Prometheus scrapes the instances and sidecars this status names.
    if v.o.prometheus.is_some() {
        if let Err(e) = crate::prometheus::write_targets(&v.o.state_dir, v.topology, &s) {
            eprintln!(
                "kyc-mesh: Prometheus targets in {}: {e}",
                v.o.state_dir.display()
            );
        }
    }
}
