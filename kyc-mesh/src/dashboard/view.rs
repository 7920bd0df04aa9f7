//! What `GET /api/state` answers and every server-sent event carries: the mesh's graph with
//! figures per edge, the weighted routes (weights in force next to the observed split), the
//! versions, the canary, chaos, the load generator and the recent events. Built by the
//! collector from one Envoy reading window, one `state` answer and the event log.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::canary::load::LoadStatus;
use crate::canary::model::{CanaryStatus, Check};
use crate::ops::{ChaosSetting, MeshState};
use crate::topology::Topology;
use crate::weights::WeightedRoute;

use crate::topology::Workload;
use crate::traces::query::{node_proxy_id, waypoint_id};

use super::ambient::{Ambient, NodeProxyView, WaypointView};
use super::events::EventView;
use super::figures::{cluster_host, Figures, Window};

/// The graph's node of the client (the browser, `split`, the load generator).
pub(super) const CLIENT: &str = "client";
/// The gateway as the client's entry (ingress).
pub(super) const GATEWAY: &str = "gateway";
/// The same Envoy again, drawn where the aggregator calls the scorers through it.
pub(super) const GATEWAY_MESH: &str = "gateway-mesh";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Node {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) detail: String,
    /// Left to right: 0 client, 1 gateway, 2 aggregator, 3 gateway, 4 scorers; in ambient
    /// mode 3 the aggregator's node proxy, 4 the waypoint, 5 the scorers' node proxies, 6 the
    /// scorers.
    pub(crate) column: u8,
    /// `/readyz` answered 200 (`None`: not a service, e.g. the client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ready: Option<bool>,
    /// The workload's sidecar, when the mesh gave it one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sidecar: Option<SidecarView>,
    /// How many of the workload's instances are ready (`None`: not a workload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instances: Option<InstanceCount>,
    /// How many of the workload's instances the gateway's outlier detection ejects now (the
    /// page shows "1 of 2 ejected"; `None`: not a workload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ejected: Option<u64>,
    /// Ambient mode: a node proxy (the nodes it stands for, what they carry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node_proxy: Option<NodeProxyView>,
    /// Ambient mode: a waypoint (its HBONE port and identity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) waypoint: Option<WaypointView>,
}

/// A workload's instances (`spec.replicas`) and how many answer their `/readyz`: the node
/// shows "2/2".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InstanceCount {
    pub(crate) ready: usize,
    pub(crate) total: usize,
}

/// A workload's sidecar as the graph marks it on its node: the Envoy answers its admin
/// `/ready`, and the PeerAuthentication mode of its inbound (STRICT, PERMISSIVE, DISABLE).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SidecarView {
    pub(crate) ready: bool,
    pub(crate) mtls: String,
}

/// The RequestAuthentication in force at the KYC API, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuthView {
    /// The workload whose sidecar verifies tokens.
    pub(crate) workload: String,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    /// `kyc-mesh token` (and the load generator's demo token) is accepted.
    pub(crate) demo_tokens: bool,
}

impl From<crate::snapshot::EndUserAuth> for AuthView {
    fn from(a: crate::snapshot::EndUserAuth) -> Self {
        AuthView {
            workload: a.workload.to_string(),
            issuers: a.issuers,
            audiences: a.audiences,
            demo_tokens: a.demo,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) figures: Figures,
}

/// One destination of a weighted route: its weight in force and what it got.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DestinationView {
    pub(crate) host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) subset: Option<String>,
    pub(crate) weight: u32,
    /// Percent of the route's destinations' requests in the window; `None` without requests.
    pub(crate) observed_percent: Option<f64>,
    pub(crate) figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RouteView {
    /// `VirtualService`, or `HTTPRoute` (then `virtualService` names the HTTPRoute and
    /// `route` its rule).
    pub(crate) kind: &'static str,
    pub(crate) virtual_service: String,
    pub(crate) route: String,
    pub(crate) overridden: bool,
    pub(crate) destinations: Vec<DestinationView>,
}

/// One version (one workload: a host and its `version` label) and its figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VersionView {
    pub(crate) host: String,
    pub(crate) version: String,
    pub(crate) port: u16,
    pub(crate) ready: bool,
    /// Instances the gateway's outlier detection ejects now: the most
    /// `outlier_detection.ejections_active` of the host's clusters (subset and Service-level).
    pub(crate) ejected: u64,
    pub(crate) figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct View {
    /// Unix milliseconds of this view.
    pub(crate) updated_ms: u64,
    /// Seconds the figures cover (0 until two readings).
    pub(crate) window_seconds: f64,
    /// Envoy's admin endpoint answered the last reading.
    pub(crate) envoy_up: bool,
    /// `up`'s loop answered the last `state` request.
    pub(crate) mesh_up: bool,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
    /// Every request the gateway's listener received (the client's and the aggregator's
    /// calls to the scorers), with its downstream time.
    pub(crate) gateway_total: Figures,
    pub(crate) routes: Vec<RouteView>,
    pub(crate) versions: Vec<VersionView>,
    pub(crate) chaos: BTreeMap<String, ChaosSetting>,
    pub(crate) canary: Option<CanaryStatus>,
    /// The canary's checks of the current (or last) run, oldest first.
    pub(crate) checks: Vec<Check>,
    pub(crate) load: LoadStatus,
    /// The scenario in use (a name of networking/scenarios, or a path); `None`: networking/ only.
    pub(crate) scenario: Option<String>,
    /// The names `POST /api/scenario` accepts.
    pub(crate) scenarios: Vec<String>,
    /// End-user authentication in force at the KYC API (a RequestAuthentication); `None`:
    /// no token is verified.
    pub(crate) auth: Option<AuthView>,
    /// Newest first.
    pub(crate) events: Vec<EventView>,
}

/// What the collector knows at one moment.
pub(super) struct Inputs<'a> {
    pub(crate) topology: &'a Topology,
    pub(crate) window: &'a Window,
    pub(crate) envoy_up: bool,
    pub(crate) mesh: Option<&'a MeshState>,
    /// Ready instances by binary (the workload is ready when one of them is).
    pub(crate) ready: &'a BTreeMap<String, InstanceCount>,
    /// The sidecars by binary (none for the edge-only mesh).
    pub(crate) sidecars: &'a BTreeMap<String, SidecarView>,
    /// Ambient mode: what the collector read of the node proxies and the waypoints.
    pub(crate) ambient: Option<Ambient<'a>>,
    pub(crate) scenario: Option<String>,
    pub(crate) scenarios: Vec<String>,
    pub(crate) auth: Option<AuthView>,
    pub(crate) checks: Vec<Check>,
    pub(crate) events: Vec<EventView>,
    pub(crate) now_ms: u64,
}

/// The figures of every cluster of `host` (locally one workload serves a host, whatever the
/// subset the route names).
fn host_figures(window: &Window, host: &str) -> Figures {
    window.sum(|cluster| cluster_host(cluster).is_some_and(|(h, _)| h == host))
}

/// Instances ejected now by outlier detection, by workload (binary): what [`build`] shows and
/// what the collector compares between readings to log an ejection or a return.
pub(super) fn ejections(topology: &Topology, window: &Window) -> BTreeMap<String, u64> {
    topology
        .workloads
        .iter()
        .map(|w| {
            let n = window.ejected(|c| cluster_host(c).is_some_and(|(h, _)| h == w.binary));
            (w.binary.to_string(), n)
        })
        .collect()
}

pub(super) fn build(i: Inputs<'_>) -> View {
    let entry = i.topology.entry();
    let ejected_now = ejections(i.topology, i.window);
    let ejected = |binary: &str| ejected_now.get(binary).copied();
    let ready = |binary: &str| i.ready.get(binary).is_some_and(|c| c.ready > 0);
    let instances = |binary: &str| i.ready.get(binary).copied();
    let scorers: Vec<_> = i
        .topology
        .workloads
        .iter()
        .filter(|w| w.binary != entry.binary)
        .collect();
    let mut nodes = vec![
        Node {
            id: CLIENT.into(),
            label: "client".into(),
            detail: "browser, split, load".into(),
            column: 0,
            ready: None,
            sidecar: None,
            instances: None,
            ejected: None,
            node_proxy: None,
            waypoint: None,
        },
        Node {
            id: GATEWAY.into(),
            label: "gateway".into(),
            detail: "Envoy (ingress)".into(),
            column: 1,
            ready: Some(i.envoy_up),
            sidecar: None,
            instances: None,
            ejected: None,
            node_proxy: None,
            waypoint: None,
        },
        Node {
            id: entry.binary.into(),
            label: entry.binary.into(),
            detail: format!(":{}", entry.port),
            column: 2,
            ready: Some(ready(entry.binary)),
            sidecar: i.sidecars.get(entry.binary).cloned(),
            instances: instances(entry.binary),
            ejected: ejected(entry.binary),
            node_proxy: None,
            waypoint: None,
        },
    ];
    if i.ambient.is_none() {
        nodes.push(Node {
            id: GATEWAY_MESH.into(),
            label: "gateway".into(),
            detail: "Envoy (mesh)".into(),
            column: 3,
            ready: Some(i.envoy_up),
            sidecar: None,
            instances: None,
            ejected: None,
            node_proxy: None,
            waypoint: None,
        });
    }
    let mut edges = vec![
        // The client's requests are those the gateway routes to the entry workload (its
        // listener also counts the entry's calls back through it: see `gateway_total`).
        Edge {
            from: CLIENT.into(),
            to: GATEWAY.into(),
            figures: host_figures(i.window, entry.binary),
        },
        Edge {
            from: GATEWAY.into(),
            to: entry.binary.into(),
            figures: host_figures(i.window, entry.binary),
        },
    ];
    match i.ambient {
        // The entry's calls go through node proxies and waypoints, not the gateway.
        Some(a) => draw_ambient(a, entry, &scorers, &mut nodes, &mut edges),
        None => edges.push(Edge {
            from: entry.binary.into(),
            to: GATEWAY_MESH.into(),
            figures: i.window.sum(|cluster| {
                cluster_host(cluster).is_some_and(|(h, _)| scorers.iter().any(|w| w.binary == h))
            }),
        }),
    }
    let mut versions = Vec::new();
    for w in &scorers {
        let version = w.labels.get("version").cloned().unwrap_or_default();
        // Each version's figures where its calls are routed: the gateway, or the waypoints.
        let figures = match i.ambient {
            Some(a) => a.figures(None, w.binary),
            None => host_figures(i.window, w.binary),
        };
        nodes.push(Node {
            id: w.binary.into(),
            label: w.binary.into(),
            detail: format!("{version} · :{}", w.port),
            column: if i.ambient.is_some() { SCORERS } else { 4 },
            ready: Some(ready(w.binary)),
            sidecar: i.sidecars.get(w.binary).cloned(),
            instances: instances(w.binary),
            ejected: ejected(w.binary),
            node_proxy: None,
            waypoint: None,
        });
        edges.push(Edge {
            from: match i.ambient {
                Some(a) => into_scorer(a, w),
                None => GATEWAY_MESH.into(),
            },
            to: w.binary.into(),
            figures,
        });
        versions.push(VersionView {
            host: w.binary.into(),
            version,
            port: w.port,
            ready: ready(w.binary),
            ejected: ejected(w.binary).unwrap_or(0),
            figures,
        });
    }
    let routes = i
        .mesh
        .map(|m| {
            m.routes
                .iter()
                .map(|r| route_view(i.window, i.ambient.as_ref(), r))
                .collect()
        })
        .unwrap_or_default();
    View {
        updated_ms: i.now_ms,
        window_seconds: i.window.seconds(),
        envoy_up: i.envoy_up,
        mesh_up: i.mesh.is_some(),
        nodes,
        edges,
        gateway_total: i.window.gateway(),
        routes,
        versions,
        chaos: i.mesh.map(|m| m.chaos.clone()).unwrap_or_default(),
        canary: i.mesh.and_then(|m| m.canary.clone()),
        checks: i.checks,
        load: i.mesh.map(|m| m.load).unwrap_or_default(),
        scenario: i.scenario,
        scenarios: i.scenarios,
        auth: i.auth,
        events: i.events,
    }
}

/// Columns of the ambient graph, left to right.
const NODE_PROXY_OUT: u8 = 3;
const WAYPOINT: u8 = 4;
const NODE_PROXY_IN: u8 = 5;
const SCORERS: u8 = 6;

/// A node proxy's box on workload `w`'s `side`, named after its node(s).
fn node_proxy_node(a: Ambient<'_>, w: &Workload, side: &'static str, column: u8) -> Node {
    let view = a.node_proxy(w, side);
    Node {
        id: node_proxy_id(w.binary),
        label: if view.nodes.is_empty() {
            "node proxy".into()
        } else {
            view.nodes.join(", ")
        },
        // Short: the box is as wide as the gateway's.
        detail: match side {
            "outbound" => "node proxy · out".into(),
            _ => "node proxy · in".into(),
        },
        column,
        ready: Some(view.ready),
        sidecar: None,
        instances: None,
        ejected: None,
        node_proxy: Some(view),
        waypoint: None,
    }
}

/// Ambient mode: what lies between the entry workload and the scorers: the entry's node
/// proxy, each waypoint, each scorer's node proxy, and the edges up to the scorers' node
/// proxies (the scorers and their last edge are drawn as in the sidecar graph, from
/// [`into_scorer`]). The entry's edges carry every scorer's figures at the waypoints, the
/// waypoint's edges each scorer's own.
fn draw_ambient(
    a: Ambient<'_>,
    entry: &Workload,
    scorers: &[&Workload],
    nodes: &mut Vec<Node>,
    edges: &mut Vec<Edge>,
) {
    let hosts: Vec<&str> = scorers.iter().map(|w| w.binary).collect();
    let from = if a.is_ambient(entry.name) {
        nodes.push(node_proxy_node(a, entry, "outbound", NODE_PROXY_OUT));
        edges.push(Edge {
            from: entry.binary.into(),
            to: node_proxy_id(entry.binary),
            figures: a.figures_of(None, &hosts),
        });
        node_proxy_id(entry.binary)
    } else {
        entry.binary.to_string()
    };
    for (name, view, up) in a.waypoints() {
        nodes.push(Node {
            id: waypoint_id(name),
            label: name.into(),
            detail: "Envoy (waypoint)".into(),
            column: WAYPOINT,
            ready: Some(up),
            sidecar: None,
            instances: None,
            ejected: None,
            node_proxy: None,
            waypoint: Some(view),
        });
        edges.push(Edge {
            from: from.clone(),
            to: waypoint_id(name),
            figures: a.figures_of(Some(name), &hosts),
        });
    }
    for s in scorers.iter().filter(|s| a.is_ambient(s.name)) {
        nodes.push(node_proxy_node(a, s, "inbound", NODE_PROXY_IN));
        for (name, _, _) in a.waypoints() {
            edges.push(Edge {
                from: waypoint_id(name),
                to: node_proxy_id(s.binary),
                figures: a.figures(Some(name), s.binary),
            });
        }
    }
}

/// Where the edge to scorer `s` starts in ambient mode: its node proxy, or (a scorer out of
/// the ambient data plane) the first waypoint.
fn into_scorer(a: Ambient<'_>, s: &Workload) -> String {
    match a.waypoints().next() {
        Some((name, _, _)) if !a.is_ambient(s.name) => waypoint_id(name),
        _ => node_proxy_id(s.binary),
    }
}

/// A weighted route with the figures observed per destination: the gateway's clusters, or for
/// an HTTPRoute a waypoint applies (ambient mode) the waypoints' clusters.
fn route_view(window: &Window, ambient: Option<&Ambient<'_>>, r: &WeightedRoute) -> RouteView {
    let at_waypoint = matches!(&r.kind, crate::weights::RouteKind::HttpRoute { services } if !services.is_empty());
    let figures: Vec<Figures> = r
        .destinations
        .iter()
        .map(|d| match ambient.filter(|_| at_waypoint) {
            Some(a) => a.figures(None, &d.host),
            None => host_figures(window, &d.host),
        })
        .collect();
    let total: u64 = figures.iter().map(|f| f.requests).sum();
    RouteView {
        kind: match r.kind {
            crate::weights::RouteKind::VirtualService => "VirtualService",
            crate::weights::RouteKind::HttpRoute { .. } => "HTTPRoute",
        },
        virtual_service: r.route.virtual_service.clone(),
        route: r.route.route.clone(),
        overridden: r.overridden,
        destinations: r
            .destinations
            .iter()
            .zip(figures)
            .map(|(d, f)| DestinationView {
                host: d.host.clone(),
                subset: d.subset.clone(),
                weight: d.weight,
                observed_percent: (total > 0).then(|| 100.0 * f.requests as f64 / total as f64),
                figures: f,
            })
            .collect(),
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
