//! The graph in ambient mode (docs/ambient.md): the entry workload's calls go to its node
//! proxy, over HBONE to the waypoint (the L7 split), over HBONE again to the scorer's node
//! proxy and on to the scorer; not through the gateway. What the collector reads of that data
//! plane ([`read`]: each waypoint's Envoy stats, each node proxy's `/healthz`, their ports from
//! `up`'s status file) and what the view draws of it (`view::draw_ambient`): the per-scorer
//! figures come from the waypoint's clusters (`outbound|8080||kyc-credit-check-advanced.default.svc.cluster.local`,
//! named as Istio names them), as the sidecar graph's come from the gateway's.

use std::collections::BTreeSet;
use std::time::Instant;

use futures_util::future::join_all;
use serde::Serialize;

use crate::status::AmbientStatus;
use crate::topology::Workload;

use super::figures::{self, cluster_host, Figures, Sample, Window};

/// A node proxy as the graph draws it, on the side of one workload: the node proxies that
/// carry its instances, and everything they carry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NodeProxyView {
    /// `node-1`, …: the node proxies carrying the workload's instances.
    pub(crate) nodes: Vec<String>,
    /// Every one of them answered its `/healthz`.
    pub(crate) ready: bool,
    /// The instances they carry (all workloads'), by name.
    pub(crate) pods: Vec<String>,
    /// The workload this box is drawn for (by binary).
    pub(crate) workload: String,
    /// `outbound` (the workload's calls leave through it) or `inbound` (calls reach it
    /// through it).
    pub(crate) side: &'static str,
}

/// A waypoint as the graph draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WaypointView {
    /// Its HBONE port (a waypoint's 15008).
    pub(crate) hbone: u16,
    /// Its admin port (`/stats`).
    pub(crate) admin: u16,
    pub(crate) identity: String,
}

/// What the collector read of the ambient data plane in its last round.
#[derive(Debug, Clone)]
pub(super) struct Reading {
    pub(crate) status: AmbientStatus,
    /// The node proxies whose `/healthz` answered.
    pub(crate) nodes_up: BTreeSet<String>,
    /// The waypoints whose admin answered their stats.
    pub(crate) waypoints_up: BTreeSet<String>,
}

/// What the view needs: the last reading and the waypoints' figures window (clusters keyed
/// `<waypoint>/<cluster>`, see [`key`]).
#[derive(Clone, Copy)]
pub(super) struct Ambient<'a> {
    pub(crate) reading: &'a Reading,
    pub(crate) window: &'a Window,
}

/// A waypoint's cluster in the merged sample.
fn key(waypoint: &str, cluster: &str) -> String {
    format!("{waypoint}/{cluster}")
}

/// The waypoint and the host of a merged key, for the routes' clusters only
/// (`outbound|…`; not the internal `inbound-vip|…` ones, which count every Service's calls).
fn waypoint_host(key: &str) -> Option<(&str, &str)> {
    let (waypoint, cluster) = key.split_once('/')?;
    if !cluster.starts_with("outbound|") {
        return None;
    }
    Some((waypoint, cluster_host(cluster)?.0))
}

/// The workload (Deployment) of an instance named `<workload>-<index>`.
fn instance_of(pod: &str) -> Option<&str> {
    let (workload, index) = pod.rsplit_once('-')?;
    index.parse::<u32>().is_ok().then_some(workload)
}

/// Read every waypoint's stats (one `/stats/prometheus` each, all at once) into `window`,
/// and every node proxy's `/healthz`. Nothing answered: the window starts afresh.
pub(super) async fn read(
    client: &reqwest::Client,
    ambient: &AmbientStatus,
    window: &mut Window,
) -> Reading {
    let stats = join_all(ambient.waypoints.iter().map(|w| async move {
        let url = format!(
            "http://127.0.0.1:{}/stats/prometheus?usedonly&filter={}",
            w.admin,
            figures::FILTER
        );
        let text = match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.text().await.ok(),
            _ => None,
        };
        (w.name.clone(), text)
    }));
    let health = join_all(ambient.nodes.iter().map(|n| async move {
        let url = format!("http://127.0.0.1:{}/healthz", n.admin);
        let up = matches!(client.get(&url).send().await, Ok(r) if r.status().is_success());
        (n.name.clone(), up)
    }));
    let (stats, health) = tokio::join!(stats, health);
    let mut sample = Sample::default();
    let mut waypoints_up = BTreeSet::new();
    for (name, text) in stats {
        let Some(text) = text else { continue };
        for (cluster, series) in figures::parse(&text).clusters {
            sample.clusters.insert(key(&name, &cluster), series);
        }
        waypoints_up.insert(name);
    }
    if waypoints_up.is_empty() {
        window.clear();
    } else {
        window.push(Instant::now(), sample);
    }
    Reading {
        status: ambient.clone(),
        nodes_up: health
            .into_iter()
            .filter(|(_, up)| *up)
            .map(|(n, _)| n)
            .collect(),
        waypoints_up,
    }
}

impl Ambient<'_> {
    /// The figures of `host` at `waypoint` (every waypoint: `None`).
    pub(super) fn figures(&self, waypoint: Option<&str>, host: &str) -> Figures {
        self.window.sum(|k| {
            waypoint_host(k).is_some_and(|(w, h)| h == host && waypoint.is_none_or(|x| x == w))
        })
    }

    /// The figures of every host of `hosts` at `waypoint` (every waypoint: `None`), added up.
    pub(super) fn figures_of(&self, waypoint: Option<&str>, hosts: &[&str]) -> Figures {
        self.window.sum(|k| {
            waypoint_host(k)
                .is_some_and(|(w, h)| hosts.contains(&h) && waypoint.is_none_or(|x| x == w))
        })
    }

    /// Whether `workload` (by Deployment name) is in the ambient data plane.
    pub(super) fn is_ambient(&self, workload: &str) -> bool {
        self.reading.status.workloads.iter().any(|w| w == workload)
    }

    /// The node proxies carrying workload `w`'s instances, as the box on its `side` shows
    /// them.
    pub(super) fn node_proxy(&self, w: &Workload, side: &'static str) -> NodeProxyView {
        let nodes: Vec<_> = self
            .reading
            .status
            .nodes
            .iter()
            .filter(|n| n.pods.iter().any(|p| instance_of(p) == Some(w.name)))
            .collect();
        NodeProxyView {
            nodes: nodes.iter().map(|n| n.name.clone()).collect(),
            ready: !nodes.is_empty()
                && nodes
                    .iter()
                    .all(|n| self.reading.nodes_up.contains(&n.name)),
            pods: nodes.iter().flat_map(|n| n.pods.iter().cloned()).collect(),
            workload: w.binary.into(),
            side,
        }
    }

    /// Each waypoint: its name, what the graph shows of it, and whether its admin answered.
    pub(super) fn waypoints(&self) -> impl Iterator<Item = (&str, WaypointView, bool)> + '_ {
        self.reading.status.waypoints.iter().map(|w| {
            let view = WaypointView {
                hbone: w.hbone,
                admin: w.admin,
                identity: w.spiffe.clone(),
            };
            (
                w.name.as_str(),
                view,
                self.reading.waypoints_up.contains(&w.name),
            )
        })
    }
}
