//! Ambient mode in `up` (the workloads of a namespace labelled `istio.io/dataplane-mode:
//! ambient`): instead of a sidecar per instance, a node proxy (`kyc-node-proxy`, ztunnel's
//! role) carries every call between instances as mTLS over HBONE, and each waypoint is an
//! Envoy that applies the L7 routes translation made for it (`translate/waypoint.rs`).
//!
//! Decided before anything starts ([`AmbientLayout::allocate`]): each ambient instance's
//! HBONE port (its pod's 15008), the entry workload's outbound listeners (one per Service a
//! waypoint serves: its calls go there, as a pod's calls are captured), the node proxy's
//! admin port and each waypoint's HBONE and admin ports. Started after the instances
//! ([`start`]): the certificates (the mesh CA), the node's configuration file, the node
//! proxy, then each waypoint with its bootstrap. The endpoints are the instances as started.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tokio::process::Command;
use tokio::sync::mpsc;

use kyc_node_proxy::config as node;
use kyc_node_proxy::spiffe::SpiffeId as NodeId;

use crate::envoy::hbone::{self, TlsFiles};
use crate::identity::{MeshCa, SpiffeId};
use crate::snapshot::Accepted;
use crate::supervise::{self, Exit, Proc};
use crate::topology::Topology;
use crate::translate::Waypoint;

use super::error::UpError;
use super::layout::{Layout, Picker};
use super::options::UpOptions;
use super::probe::client;

/// The node proxy's binary, beside the services'.
pub(crate) const NODE_PROXY_BINARY: &str = "kyc-node-proxy";
/// The name of node `i` (0-based): `node-1`, `node-2`, …
fn node_name(i: usize) -> String {
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
    /// What the node proxies and the waypoints were started with (fixed for the mesh's life).
    pub(crate) started: (Vec<Waypoint>, crate::translate::NodePolicies),
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
        let mut al = AmbientLayout {
            started: (accepted.waypoints.clone(), accepted.node_policies.clone()),
            ..AmbientLayout::default()
        };
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

    /// Whether `accepted` asks the waypoints or the node proxies for something else than they
    /// run: said once per change, as it applies at the next start.
    pub(super) fn warn_if_changed(&self, accepted: &Accepted) {
        if (&accepted.waypoints, &accepted.node_policies) != (&self.started.0, &self.started.1) {
            eprintln!("kyc-mesh: the waypoint's routes or the ambient policies changed: in ambient mode they are fixed at start and apply when the mesh starts again (docs/ambient.md#not-done-yet)");
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

/// The processes of the ambient data plane, by process id and name (an exit stops the mesh).
pub(crate) type AmbientProcs = Vec<(usize, String)>;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn node_id(id: &SpiffeId) -> Result<NodeId, UpError> {
    NodeId::parse(id.uri()).map_err(|e| UpError::Ambient(e.to_string()))
}

/// An instance of an ambient workload, as the node proxy and the waypoints see it.
struct AmbientPod {
    pod: String,
    workload: &'static str,
    contract: u16,
    app: u16,
    hbone: u16,
    identity: SpiffeId,
    certs: PathBuf,
}

/// Issue certificates, write the configurations and start the node proxy and waypoints.
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
) -> Result<AmbientProcs, UpError> {
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
                app: pod.app,
                hbone: *hbone,
                identity: identity.clone(),
                certs: workload_certs.clone(),
            });
        }
    }
    let root = ca.root_cert_path();
    let mut started = AmbientProcs::new();
    let mut shown = Vec::new();
    for (i, admin) in al.nodes.iter().enumerate() {
        let node = node_name(i);
        let here: Vec<&AmbientPod> = pods
            .iter()
            .filter(|p| al.node_of.get(&p.pod) == Some(&i))
            .collect();
        let config = node_config(al, &node, *admin, &here, accepted, &root)?;
        let config_path = dir.join(format!("{node}.json"));
        let text = serde_json::to_vec_pretty(&config)
            .map_err(|e| UpError::Ambient(format!("the configuration of {node}: {e}")))?;
        crate::files::write_atomic(&config_path, text)?;
        let mut cmd = Command::new(&binary);
        cmd.arg("--config").arg(&config_path);
        let name = format!("{node}/{NODE_PROXY_BINARY}");
        let proc = supervise::spawn(&name, cmd, exits)?;
        let url = format!("http://127.0.0.1:{admin}/healthz");
        supervise::wait_ready(&client()?, &proc, &url, o.ready_timeout).await?;
        started.push((proc.id, name));
        procs.push(proc);
        shown.push(format!(
            "node proxy {node} (metrics http://127.0.0.1:{admin}/metrics) carries {}",
            here.iter()
                .map(|p| p.pod.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for w in &accepted.waypoints {
        let Some(ports) = al.waypoints.get(&w.name) else {
            continue;
        };
        let wp_certs = certs.join(format!("waypoint-{}", w.name));
        ca.issue(&wp_certs, &w.identity)?;
        let files = TlsFiles {
            chain: wp_certs.join("cert-chain.pem"),
            key: wp_certs.join("key.pem"),
            root: root.clone(),
        };
        let bootstrap = waypoint_bootstrap(w, ports, &files, &pods)?;
        let bootstrap = o
            .telemetry
            .decorate_waypoint(bootstrap, &w.name, &w.namespace);
        let path = dir.join(format!("waypoint-{}.json", w.name));
        let text = serde_json::to_vec_pretty(&bootstrap)
            .map_err(|e| UpError::Ambient(format!("the waypoint's bootstrap: {e}")))?;
        crate::files::write_atomic(&path, text)?;
        let mut cmd = Command::new(&o.envoy);
        cmd.arg("-c")
            .arg(&path)
            .arg("--disable-hot-restart")
            .arg("--log-level")
            .arg(&o.envoy_log_level)
            .arg("--concurrency")
            .arg(o.envoy_concurrency.unwrap_or(1).to_string());
        let name = format!("{}/waypoint", w.name);
        let proc = supervise::spawn(&name, cmd, exits)?;
        let url = format!("http://127.0.0.1:{}/ready", ports.admin);
        supervise::wait_ready(&client()?, &proc, &url, o.ready_timeout).await?;
        started.push((proc.id, name));
        procs.push(proc);
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
    Ok(started)
}

/// The node's configuration: every ambient instance with its inbound, the entry workload's
/// outbound listeners, and the Services they reach (through their waypoint).
fn node_config(
    al: &AmbientLayout,
    name: &str,
    admin: u16,
    pods: &[&AmbientPod],
    accepted: &Accepted,
    root: &Path,
) -> Result<node::NodeConfig, UpError> {
    let mut services = Vec::new();
    for w in &accepted.waypoints {
        let Some(ports) = al.waypoints.get(&w.name) else {
            continue;
        };
        for s in &w.services {
            services.push(node::Service {
                host: s.fqdn(),
                port: s.port,
                waypoint: Some(node::Peer {
                    hbone: loopback(ports.hbone),
                    identity: node_id(&w.identity)?,
                }),
                endpoints: Vec::new(),
            });
        }
    }
    let mut workloads = Vec::new();
    for p in pods {
        let outbound = al
            .outbound
            .iter()
            .filter(|(pod, _, _)| *pod == p.pod)
            .map(|(_, service, port)| node::Outbound {
                listen: loopback(*port),
                service: service.clone(),
            })
            .collect();
        workloads.push(node::Workload {
            name: p.pod.clone(),
            workload: p.workload.to_string(),
            identity: node_id(&p.identity)?,
            cert_chain: p.certs.join("cert-chain.pem"),
            key: p.certs.join("key.pem"),
            inbound: Some(node::Inbound {
                hbone: loopback(p.hbone),
                app: vec![loopback(p.app)],
                port: Some(crate::topology::CONTAINER_PORT),
                policies: accepted
                    .node_policies
                    .get(p.workload)
                    .cloned()
                    .unwrap_or_default(),
            }),
            outbound,
        });
    }
    Ok(node::NodeConfig {
        node: name.into(),
        admin: loopback(admin),
        trust_root: root.to_path_buf(),
        workloads,
        services,
    })
}

/// A waypoint's static bootstrap: its HBONE listener, one internal listener per Service
/// port with the translated routes, and the clusters those routes name, each endpoint (the
/// instances of the workload on that contract port) reached through a tunnel to its node
/// proxy.
fn waypoint_bootstrap(
    w: &Waypoint,
    ports: &WaypointPorts,
    files: &TlsFiles,
    pods: &[AmbientPod],
) -> Result<Value, UpError> {
    let json_err = |e: serde_json::Error| UpError::Ambient(format!("waypoint {}: {e}", w.name));
    let mut vips = Vec::new();
    let mut listeners = Vec::new();
    let mut clusters = Vec::new();
    for s in &w.services {
        let vip = s.vip_name();
        let domains = vec![
            format!("{}:{}", s.fqdn(), s.port),
            format!("{}:{}", s.name, s.port),
            format!("{}.{}:{}", s.name, s.namespace, s.port),
        ];
        vips.push((domains, vip.clone()));
        let routes = s
            .routes
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(json_err)?;
        listeners.push(hbone::internal_http_listener(
            &vip,
            routes,
            s.rbac_deny.as_ref(),
            s.rbac_allow.as_ref(),
        ));
        clusters.push(hbone::internal_cluster(&vip));
    }
    listeners.insert(
        0,
        hbone::terminating_listener(ports.hbone, files, &vips, crate::translate::PEER_PRINCIPAL),
    );
    listeners.push(hbone::originating_listener());
    clusters.push(hbone::originating_placeholder());
    for c in w.clusters.values() {
        let contract: Vec<u16> = c
            .load_assignment
            .endpoints
            .iter()
            .flat_map(|l| &l.lb_endpoints)
            .map(|e| e.endpoint.address.socket_address.port_value)
            .collect();
        let endpoints: Vec<Value> = pods
            .iter()
            .filter(|p| contract.contains(&p.contract))
            .map(|p| hbone::tunnel_endpoint(p.app, &peer_cluster(&p.pod)))
            .collect();
        let mut v = serde_json::to_value(c).map_err(json_err)?;
        v["load_assignment"]["endpoints"] = json!([{ "lb_endpoints": endpoints }]);
        v["transport_socket"] = hbone::internal_upstream();
        // As Istio's waypoints: no active health checks (readiness is the endpoint list's
        // business; Envoy's checks do not carry a tunnel's metadata).
        if let Some(o) = v.as_object_mut() {
            o.remove("health_checks");
        }
        clusters.push(v);
    }
    for p in pods {
        clusters.push(hbone::peer_cluster(
            &peer_cluster(&p.pod),
            p.hbone,
            files,
            p.identity.uri(),
        ));
    }
    Ok(json!({
        "node": {"id": format!("waypoint~127.0.0.1~{}.{}~{}.svc.cluster.local", w.name, w.namespace, w.namespace),
                 "cluster": format!("{}.{}", w.name, w.namespace)},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ports.admin}}},
        "stats_config": serde_json::to_value(crate::envoy::stats::StatsConfig::istio_cluster_names()).map_err(json_err)?,
        "stats_flush_interval": "1s",
        "bootstrap_extensions": hbone::bootstrap_extensions(),
        "static_resources": {"listeners": listeners, "clusters": clusters}
    }))
}

/// The waypoint's HBONE cluster to one instance's node proxy inbound.
fn peer_cluster(pod: &str) -> String {
    format!("hbone|{pod}")
}
