//! What the ambient data plane is written from ([`AmbientPlan`]): each node proxy's
//! configuration file, each waypoint's bootstrap (its HBONE listener, its internal listeners
//! with their RDS files) and its CDS file (its clusters to the instances, each endpoint reached
//! through a tunnel to the instance's node proxy). Written at start (`super::ambient`) and
//! again when an instance's app moves, instances come or go, or the L4 policies change
//! (`super::waypoints`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use kyc_node_proxy::config as node;
use kyc_node_proxy::spiffe::SpiffeId as NodeId;

use crate::apply::ApplyError;
use crate::envoy::hbone::{self, TlsFiles};
use crate::identity::SpiffeId;
use crate::topology::Workload;
use crate::translate::Waypoint;

use super::ambient_layout::{node_name, AmbientLayout, WaypointPorts};
use super::error::UpError;
use super::layout::Picker;

pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn node_id(id: &SpiffeId) -> Result<NodeId, ApplyError> {
    NodeId::parse(id.uri()).map_err(|e| ApplyError::NodeProxy(e.to_string()))
}

/// An instance of an ambient workload, as the node proxy and the waypoints see it.
#[derive(Debug, Clone)]
pub(crate) struct AmbientPod {
    pub(crate) pod: String,
    pub(crate) workload: &'static str,
    pub(crate) contract: u16,
    /// The ports its app listens on: one; two while a rollout replaces its process.
    pub(crate) apps: Vec<u16>,
    pub(crate) hbone: u16,
    pub(crate) identity: SpiffeId,
    pub(crate) certs: PathBuf,
    /// An endpoint of the waypoints (false while a new instance starts, or a removed one
    /// drains).
    pub(crate) serving: bool,
}

/// What the ambient data plane is built from: enough to write a node's configuration and a
/// waypoint's clusters again when an instance's app moves (a rollout) or the L4 policies
/// change (an edit), as `super::waypoints` does.
#[derive(Debug, Clone)]
pub(crate) struct AmbientPlan {
    pub(crate) al: AmbientLayout,
    pub(crate) pods: Vec<AmbientPod>,
    /// The waypoints as started (their Services and clusters are fixed at start).
    pub(crate) waypoints: Vec<Waypoint>,
    pub(crate) root: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) waypoint_tls: BTreeMap<String, TlsFiles>,
    /// The name of the entry workload (its instances get outbound listeners).
    pub(crate) entry: &'static str,
    /// The workloads in the ambient data plane.
    pub(crate) workloads: BTreeSet<&'static str>,
}

impl AmbientPlan {
    /// A new instance `pod` of `w` (a scale-up) whose app will listen on `app`: its HBONE port
    /// (and, for the entry workload, its outbound listeners) on free ports not in `reserved`,
    /// on the next node round robin; not an endpoint of the waypoints yet. Returns where its
    /// calls go (the entry workload's first outbound listener).
    pub(crate) fn add_pod(
        &mut self,
        w: &Workload,
        pod: &str,
        app: u16,
        reserved: &BTreeSet<u16>,
    ) -> std::io::Result<Option<u16>> {
        let mut taken = reserved.clone();
        taken.extend(self.al.hbone.values());
        taken.extend(self.al.outbound.iter().map(|(_, _, p)| *p));
        taken.extend(self.al.nodes.iter());
        let mut picker = Picker::new(&taken);
        let node = self.al.node_of.len() % self.al.nodes.len().max(1);
        let hbone = picker.next()?;
        let mut calls = None;
        if w.name == self.entry {
            for wp in &self.waypoints {
                for s in &wp.services {
                    let port = picker.next()?;
                    calls.get_or_insert(port);
                    let authority = format!("{}:{}", s.fqdn(), s.port);
                    self.al.outbound.push((pod.to_string(), authority, port));
                }
            }
        }
        self.al.node_of.insert(pod.to_string(), node);
        self.al.hbone.insert(pod.to_string(), hbone);
        self.pods.push(AmbientPod {
            pod: pod.to_string(),
            workload: w.name,
            contract: w.port,
            apps: vec![app],
            hbone,
            identity: SpiffeId::new(&w.namespace, &w.service_account),
            certs: self.dir.join("certs").join(w.name),
            serving: false,
        });
        Ok(calls)
    }

    /// Instance `pod` leaves the data plane (a scale-down, once it is no endpoint any more).
    pub(crate) fn remove_pod(&mut self, pod: &str) {
        self.pods.retain(|p| p.pod != pod);
        self.al.node_of.remove(pod);
        self.al.hbone.remove(pod);
        self.al.outbound.retain(|(p, _, _)| p != pod);
    }

    /// The node of instance `pod`.
    pub(crate) fn node_of(&self, pod: &str) -> Option<usize> {
        self.al.node_of.get(pod).copied()
    }

    /// Node `i`'s configuration file.
    pub(crate) fn node_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}.json", node_name(i)))
    }

    /// Waypoint `name`'s CDS directory (its clusters to the instances).
    pub(crate) fn cds_dir(&self, name: &str) -> PathBuf {
        self.dir.join(format!("waypoint-{name}")).join("cds")
    }

    /// Node `i`'s configuration with the L4 policies `policies`.
    pub(crate) fn node_config(
        &self,
        i: usize,
        policies: &crate::translate::NodePolicies,
    ) -> Result<node::NodeConfig, ApplyError> {
        let here: Vec<&AmbientPod> = self
            .pods
            .iter()
            .filter(|p| self.al.node_of.get(&p.pod) == Some(&i))
            .collect();
        let admin = self.al.nodes.get(i).copied().unwrap_or_default();
        node_config(
            &self.al,
            &node_name(i),
            admin,
            &here,
            &self.waypoints,
            policies,
            &self.root,
        )
    }

    /// Write node `i`'s configuration file (atomically).
    pub(crate) fn write_node(
        &self,
        i: usize,
        policies: &crate::translate::NodePolicies,
    ) -> Result<(), ApplyError> {
        let config = self.node_config(i, policies)?;
        let name = format!("the configuration of {}", node_name(i));
        let text = serde_json::to_vec_pretty(&config).map_err(|e| ApplyError::Json(name, e))?;
        write(&self.node_path(i), text)
    }

    /// Waypoint `w`'s CDS response (version `version`): the clusters its routes name, each
    /// endpoint an instance's app reached through a tunnel to its node proxy, and one HBONE
    /// cluster per instance.
    pub(crate) fn waypoint_cds(&self, w: &Waypoint, version: u64) -> Result<Value, ApplyError> {
        let json_err = |e: serde_json::Error| ApplyError::Json(format!("waypoint {}", w.name), e);
        let files = self
            .waypoint_tls
            .get(&w.name)
            .ok_or_else(|| ApplyError::NodeProxy(format!("waypoint {}: no certificate", w.name)))?;
        let mut clusters = Vec::new();
        for c in w.clusters.values() {
            let contract: Vec<u16> = c
                .load_assignment
                .endpoints
                .iter()
                .flat_map(|l| &l.lb_endpoints)
                .map(|e| e.endpoint.address.socket_address.port_value)
                .collect();
            let endpoints: Vec<Value> = self
                .pods
                .iter()
                .filter(|p| p.serving && contract.contains(&p.contract))
                .flat_map(|p| {
                    p.apps
                        .iter()
                        .map(|app| hbone::tunnel_endpoint(*app, &peer_cluster(&p.pod)))
                })
                .collect();
            let mut v = serde_json::to_value(c).map_err(json_err)?;
            v["load_assignment"]["endpoints"] = json!([{ "lb_endpoints": endpoints }]);
            v["transport_socket"] = hbone::internal_upstream();
            // As Istio's waypoints: no active health checks (readiness is the endpoint list's
            // business; Envoy's checks do not carry a tunnel's metadata).
            if let Some(o) = v.as_object_mut() {
                o.remove("health_checks");
            }
            v["@type"] = json!("type.googleapis.com/envoy.config.cluster.v3.Cluster");
            clusters.push(v);
        }
        for p in &self.pods {
            let mut v =
                hbone::peer_cluster(&peer_cluster(&p.pod), p.hbone, files, p.identity.uri());
            v["@type"] = json!("type.googleapis.com/envoy.config.cluster.v3.Cluster");
            clusters.push(v);
        }
        Ok(json!({"version_info": version.to_string(), "resources": clusters}))
    }

    /// Write waypoint `w`'s CDS file (atomically).
    pub(crate) fn write_waypoint_cds(&self, w: &Waypoint, version: u64) -> Result<(), ApplyError> {
        let dir = self.cds_dir(&w.name);
        std::fs::create_dir_all(&dir).map_err(|source| ApplyError::Write {
            path: dir.clone(),
            source,
        })?;
        let text = serde_json::to_vec_pretty(&self.waypoint_cds(w, version)?)
            .map_err(|e| ApplyError::Json(format!("waypoint {}", w.name), e))?;
        write(&dir.join(CDS_FILE), text)
    }
}

/// Write `text` to `path` atomically.
fn write(path: &Path, text: Vec<u8>) -> Result<(), ApplyError> {
    crate::files::write_atomic(path, text).map_err(|source| ApplyError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The waypoint's CDS file, in its own watched directory.
pub(crate) const CDS_FILE: &str = "cds.json";

/// The node's configuration: every ambient instance with its inbound, the entry workload's
/// outbound listeners, and the Services they reach (through their waypoint).
pub(crate) fn node_config(
    al: &AmbientLayout,
    name: &str,
    admin: u16,
    pods: &[&AmbientPod],
    waypoints: &[Waypoint],
    policies: &crate::translate::NodePolicies,
    root: &Path,
) -> Result<node::NodeConfig, ApplyError> {
    let mut services = Vec::new();
    for w in waypoints {
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
                app: p.apps.iter().map(|a| loopback(*a)).collect(),
                port: Some(crate::topology::CONTAINER_PORT),
                policies: policies.get(p.workload).cloned().unwrap_or_default(),
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

/// A waypoint's bootstrap: its HBONE listener, one internal listener per Service port whose
/// routes come from an RDS file under `rds` (written here, version 1; returned by listener
/// name), and its clusters to the instances from the CDS file in `cds`
/// ([`AmbientPlan::waypoint_cds`], written before it starts).
pub(crate) fn waypoint_bootstrap(
    w: &Waypoint,
    ports: &WaypointPorts,
    files: &TlsFiles,
    rds: &Path,
    cds: &Path,
) -> Result<(Value, BTreeMap<String, PathBuf>), UpError> {
    let json_err = |e: serde_json::Error| UpError::Ambient(format!("waypoint {}: {e}", w.name));
    let mut vips = Vec::new();
    let mut listeners = Vec::new();
    let mut clusters = Vec::new();
    let mut rds_dirs = BTreeMap::new();
    for (i, s) in w.services.iter().enumerate() {
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
        let rds_dir = rds.join(format!("rds-{i}"));
        std::fs::create_dir_all(&rds_dir)?;
        let text = serde_json::to_vec_pretty(&hbone::route_configuration(&vip, 1, routes))
            .map_err(json_err)?;
        crate::files::write_atomic(&rds_dir.join(hbone::RDS_FILE), text)?;
        listeners.push(hbone::internal_http_listener(
            &vip,
            &rds_dir,
            s.rbac_deny.as_ref(),
            s.rbac_allow.as_ref(),
        ));
        rds_dirs.insert(vip.clone(), rds_dir);
        clusters.push(hbone::internal_cluster(&vip));
    }
    listeners.insert(
        0,
        hbone::terminating_listener(ports.hbone, files, &vips, crate::translate::PEER_PRINCIPAL),
    );
    listeners.push(hbone::originating_listener());
    clusters.push(hbone::originating_placeholder());
    let cds_source = serde_json::to_value(crate::envoy::config_source::ConfigSource::watched_file(
        cds, CDS_FILE,
    ))
    .map_err(json_err)?;
    let bootstrap = json!({
        "node": {"id": format!("waypoint~127.0.0.1~{}.{}~{}.svc.cluster.local", w.name, w.namespace, w.namespace),
                 "cluster": format!("{}.{}", w.name, w.namespace)},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ports.admin}}},
        "stats_config": serde_json::to_value(crate::envoy::stats::StatsConfig::istio_cluster_names()).map_err(json_err)?,
        "stats_flush_interval": "1s",
        "bootstrap_extensions": hbone::bootstrap_extensions(),
        "static_resources": {"listeners": listeners, "clusters": clusters},
        "dynamic_resources": {"cds_config": cds_source}
    });
    Ok((bootstrap, rds_dirs))
}

/// The waypoint's HBONE cluster to one instance's node proxy inbound.
fn peer_cluster(pod: &str) -> String {
    format!("hbone|{pod}")
}
