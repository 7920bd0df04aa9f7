//! What a running `up` is made of, for `kyc-mesh status` and `kyc-mesh curl --from`:
//! `up` rewrites `<state dir>/run/mesh.json` whenever an instance, a port or the scenario
//! changes (a sub-directory: `up` watches the state directory's own files only) and
//! removes it when it stops.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeshStatus {
    /// `up`'s pid: a file left by a killed `up` names a process that is gone.
    pub pid: u32,
    pub gateway_port: u16,
    pub gateway_admin: u16,
    pub gateway_identity: Option<String>,
    /// The mesh CA's root certificate (none for the edge-only mesh).
    pub ca: Option<PathBuf>,
    pub scenario: Option<PathBuf>,
    pub workloads: Vec<WorkloadStatus>,
    /// Ambient mode: the node proxy and the waypoints (none with sidecars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambient: Option<AmbientStatus>,
}

/// The ambient data plane of a running mesh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmbientStatus {
    /// The workloads in it (by Deployment name).
    pub workloads: Vec<String>,
    /// The node proxies (`--nodes`), each with the instances it carries.
    pub nodes: Vec<NodeStatus>,
    /// Each instance's HBONE port (its pod's 15008), by instance name.
    pub hbone: std::collections::BTreeMap<String, u16>,
    /// The outbound listeners instances' calls go to (a pod's captured calls).
    #[serde(default)]
    pub outbound: Vec<OutboundStatus>,
    pub waypoints: Vec<WaypointStatus>,
}

/// One node proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// `node-1`, `node-2`, …
    pub name: String,
    /// Its admin port (`/metrics`, `/healthz`).
    pub admin: u16,
    /// The instances on it (by name).
    pub pods: Vec<String>,
}

/// One outbound listener of the node proxy: `pod`'s calls to `service` (`fqdn:port`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundStatus {
    pub pod: String,
    pub service: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaypointStatus {
    pub name: String,
    pub hbone: u16,
    /// Its Envoy's admin port.
    pub admin: u16,
    pub spiffe: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    pub name: String,
    /// The contract port: instance 0's sidecar inbound, or its app without a sidecar.
    pub port: u16,
    /// Instance 0's running app (none while it waits for a restart, or with `replicas: 0`).
    pub instance: Option<InstanceStatus>,
    /// Instance 0's sidecar (every instance's is in `pods`).
    pub sidecar: Option<SidecarStatus>,
    /// The Deployment's `spec.replicas`.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Every instance, in index order.
    #[serde(default)]
    pub pods: Vec<PodStatus>,
}

fn one() -> u32 {
    1
}

/// One instance (pod) of a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodStatus {
    /// `<workload>-<index>`.
    pub name: String,
    /// Where callers reach it: its sidecar's inbound, or its app.
    pub port: u16,
    /// Its running app (none while it waits for a restart).
    pub instance: Option<InstanceStatus>,
    pub sidecar: Option<SidecarStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub pid: u32,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SidecarStatus {
    pub outbound: u16,
    pub admin: u16,
    pub spiffe: String,
    /// The inbound's PeerAuthentication mode (STRICT, PERMISSIVE, DISABLE).
    pub mtls: String,
}

pub(crate) fn file(state_dir: &Path) -> PathBuf {
    state_dir.join("run").join("mesh.json")
}

/// Replace the status file atomically.
pub(crate) fn write(state_dir: &Path, status: &MeshStatus) -> std::io::Result<()> {
    let path = file(state_dir);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::files::write_json(&path, status)
}

/// The running mesh of `state_dir`, if its `up` is alive.
pub fn read(state_dir: &Path) -> Option<MeshStatus> {
    let text = std::fs::read_to_string(file(state_dir)).ok()?;
    let status: MeshStatus = serde_json::from_str(&text).ok()?;
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(status.pid as i32, 0) } == 0;
    alive.then_some(status)
}

/// A status as `up` would write it, for the unit tests of what reads it (the dashboard's
/// collector, the Prometheus targets): workload `n` runs on `instance + n` when `instance` is
/// given, its sidecar's admin on `15000 + n` when `sidecar`; one instance each (none when
/// neither: `--external-services`).
#[cfg(test)]
pub(crate) fn fixture(
    topology: &crate::topology::Topology,
    instance: Option<u16>,
    sidecar: bool,
) -> MeshStatus {
    MeshStatus {
        pid: 1,
        gateway_port: 1,
        gateway_admin: 2,
        gateway_identity: None,
        ca: None,
        scenario: None,
        ambient: None,
        workloads: topology
            .workloads
            .iter()
            .enumerate()
            .map(|(n, w)| {
                // Neither: the services run elsewhere (`--external-services`), no pods.
                let external = instance.is_none() && !sidecar;
                let instance = instance.map(|port| InstanceStatus {
                    pid: 7,
                    port: port + n as u16,
                });
                let sidecar = sidecar.then(|| SidecarStatus {
                    outbound: 3,
                    admin: 15000 + n as u16,
                    spiffe: String::new(),
                    mtls: "STRICT".into(),
                });
                WorkloadStatus {
                    name: w.name.to_string(),
                    port: w.port,
                    instance: instance.clone(),
                    sidecar: sidecar.clone(),
                    replicas: 1,
                    pods: (!external)
                        .then(|| PodStatus {
                            name: format!("{}-0", w.name),
                            port: w.port,
                            instance,
                            sidecar,
                        })
                        .into_iter()
                        .collect(),
                }
            })
            .collect(),
    }
}
