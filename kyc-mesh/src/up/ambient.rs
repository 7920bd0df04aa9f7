//! Ambient mode in `up` (the workloads of a namespace labelled `istio.io/dataplane-mode:
//! ambient`): instead of a sidecar per instance, a node proxy (`kyc-node-proxy`, ztunnel's
//! role) carries every call between instances as mTLS over HBONE, and each waypoint is an
//! Envoy that applies the L7 routes translation made for it (`translate/waypoint.rs`).
//!
//! Where it listens is decided before anything starts (`super::ambient_layout`); what it runs
//! is written from `super::ambient_plan`. Started after the instances ([`start`]): the
//! certificates (the mesh CA), each node's configuration file and node proxy, then each
//! waypoint with its bootstrap; then it runs as `super::waypoints` keeps it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tokio::process::Command;
use tokio::sync::mpsc;

use crate::envoy::hbone::TlsFiles;
use crate::identity::{MeshCa, SpiffeId};
use crate::snapshot::Accepted;
use crate::supervise::{self, Exit, Proc};
use crate::topology::Topology;

use super::ambient_layout::{node_name, AmbientLayout};
use super::ambient_plan::{waypoint_bootstrap, AmbientPlan, AmbientPod};
use super::error::UpError;
use super::layout::Layout;
use super::options::UpOptions;
use super::probe::client;
use super::waypoints::{LiveAmbient, LiveNode, LiveWaypoint};

/// The node proxy's binary, beside the services'.
pub(crate) const NODE_PROXY_BINARY: &str = "kyc-node-proxy";
/// The processes of the ambient data plane, by process id and name (an exit stops the mesh).
pub(crate) type AmbientProcs = Vec<(usize, String)>;

/// Issue certificates, write the configurations and start the node proxy and waypoints; the
/// data plane as it runs (its routes, endpoints and policies change live: `super::waypoints`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn start(
    o: &UpOptions,
    al: &AmbientLayout,
    ambient: &BTreeSet<&'static str>,
    topology: &Topology,
    layout: &Layout,
    accepted: &Accepted,
    dir: &Path,
    procs: &mut Vec<Proc>,
    exits: &mpsc::UnboundedSender<Exit>,
) -> Result<(AmbientProcs, LiveAmbient), UpError> {
    let binary = o.bin_dir.join(NODE_PROXY_BINARY);
    if !binary.is_file() {
        return Err(UpError::BinaryMissing(binary));
    }
    let ca = MeshCa::load_or_create(&o.state_dir)?;
    let certs = dir.join("certs");
    let mut pods = Vec::new();
    for w in topology
        .workloads
        .iter()
        .filter(|w| ambient.contains(w.name))
    {
        let identity = SpiffeId::new(&w.namespace, &w.service_account);
        let workload_certs = certs.join(w.name);
        ca.issue(&workload_certs, &identity)?;
        for pod in layout.pods.get(w.name).into_iter().flatten() {
            let Some(hbone) = al.hbone.get(&pod.name) else {
                continue;
            };
            pods.push(AmbientPod {
                pod: pod.name.clone(),
                workload: w.name,
                contract: w.port,
                apps: vec![pod.app],
                hbone: *hbone,
                identity: identity.clone(),
                certs: workload_certs.clone(),
                serving: true,
            });
        }
    }
    let root = ca.root_cert_path();
    let mut waypoint_tls = BTreeMap::new();
    for w in &accepted.waypoints {
        let wp_certs = certs.join(format!("waypoint-{}", w.name));
        ca.issue(&wp_certs, &w.identity)?;
        let files = TlsFiles {
            chain: wp_certs.join("cert-chain.pem"),
            key: wp_certs.join("key.pem"),
            root: root.clone(),
        };
        waypoint_tls.insert(w.name.clone(), files);
    }
    let plan = AmbientPlan {
        al: al.clone(),
        pods,
        waypoints: accepted.waypoints.clone(),
        root,
        dir: dir.to_path_buf(),
        waypoint_tls,
        entry: topology.entry().name,
        workloads: ambient.clone(),
    };
    let mut started = AmbientProcs::new();
    let mut shown = Vec::new();
    let mut nodes = Vec::new();
    for (i, admin) in al.nodes.iter().enumerate() {
        let node = node_name(i);
        plan.write_node(i, &accepted.node_policies)?;
        let mut cmd = Command::new(&binary);
        cmd.arg("--config").arg(plan.node_path(i));
        let name = format!("{node}/{NODE_PROXY_BINARY}");
        let proc = supervise::spawn(&name, cmd, exits)?;
        let url = format!("http://127.0.0.1:{admin}/healthz");
        supervise::wait_ready(&client()?, &proc, &url, o.ready_timeout).await?;
        started.push((proc.id, name));
        nodes.push(LiveNode::new(node.clone(), proc.pid, *admin));
        procs.push(proc);
        shown.push(format!(
            "node proxy {node} (metrics http://127.0.0.1:{admin}/metrics) carries {}",
            plan.pods
                .iter()
                .filter(|p| al.node_of.get(&p.pod) == Some(&i))
                .map(|p| p.pod.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut live = BTreeMap::new();
    for w in &accepted.waypoints {
        let Some(ports) = al.waypoints.get(&w.name) else {
            continue;
        };
        let Some(files) = plan.waypoint_tls.get(&w.name) else {
            continue;
        };
        plan.write_waypoint_cds(w, 1)?;
        let rds = dir.join(format!("waypoint-{}", w.name));
        let (bootstrap, rds_dirs) =
            waypoint_bootstrap(w, ports, files, &rds, &plan.cds_dir(&w.name))?;
        let bootstrap = o
            .telemetry
            .decorate_waypoint(bootstrap, &w.name, &w.namespace);
        let path = dir.join(format!("waypoint-{}.json", w.name));
        let text = serde_json::to_vec_pretty(&bootstrap)
            .map_err(|e| UpError::Ambient(format!("the waypoint's bootstrap: {e}")))?;
        crate::files::write_atomic(&path, text)?;
        let cmd = super::envoys::envoy_command(o, &path, Some(o.envoy_concurrency.unwrap_or(1)));
        let name = format!("{}/waypoint", w.name);
        let proc = supervise::spawn(&name, cmd, exits)?;
        let url = format!("http://127.0.0.1:{}/ready", ports.admin);
        supervise::wait_ready(&client()?, &proc, &url, o.ready_timeout).await?;
        started.push((proc.id, name));
        procs.push(proc);
        live.insert(w.name.clone(), LiveWaypoint::new(w, rds_dirs, ports.admin));
    }
    println!(
        "kyc-mesh: ambient: {} over HBONE{}",
        shown.join("; "),
        al.waypoints
            .iter()
            .map(|(name, p)| format!(
                "; waypoint {name} (HBONE 127.0.0.1:{}, admin http://127.0.0.1:{})",
                p.hbone, p.admin
            ))
            .collect::<String>()
    );
    let policies = accepted.node_policies.clone();
    Ok((started, LiveAmbient::new(plan, nodes, live, policies)))
}
