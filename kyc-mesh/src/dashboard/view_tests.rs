use std::time::{Duration, Instant};

use super::*;
use crate::dashboard::figures::parse;
use crate::istio::RouteRef;
use crate::topology::Ports;
use crate::weights::{WeightedDestination, WeightedRoute};

/// Envoy's text with `basic` and `advanced` 2xx answers and `aggregator` ones, 5xx `failed` on
/// advanced.
fn text(aggregator: u64, basic: u64, advanced: u64, failed: u64) -> String {
    let line = |cluster: &str, class: u8, n: u64| {
        format!("envoy_cluster_upstream_rq_xx{{envoy_response_code_class=\"{class}\",envoy_cluster_name=\"outbound|8080|{cluster}.default.svc.cluster.local\"}} {n}\n")
    };
    line("v1|kyc-aggregator-mgt", 2, aggregator)
        + &line("v1|kyc-credit-check-basic", 2, basic)
        + &line("v2|kyc-credit-check-advanced", 2, advanced)
        + &line("v2|kyc-credit-check-advanced", 5, failed)
}

fn mesh() -> MeshState {
    let dest = |host: &str, subset: &str, weight| WeightedDestination {
        host: host.into(),
        subset: Some(subset.into()),
        weight,
    };
    MeshState {
        routes: vec![WeightedRoute {
            route: RouteRef::new("kyc-credit-check", "credit-check-report"),
            kind: crate::weights::RouteKind::VirtualService,
            destinations: vec![
                dest("kyc-credit-check-basic", "v1", 90),
                dest("kyc-credit-check-advanced", "v2", 10),
            ],
            overridden: true,
        }],
        chaos: Default::default(),
        canary: None,
        load: Default::default(),
    }
}

#[test]
fn the_view_puts_weights_next_to_the_observed_split_and_figures_on_each_edge() {
    let topology = Topology::new(&Ports::default());
    let mut window = Window::new(Duration::from_secs(10));
    let t0 = Instant::now();
    window.push(t0, parse(&text(0, 0, 0, 0)));
    // Outlier detection ejects one advanced instance (its v2 subset cluster says so).
    let ejected = "envoy_cluster_outlier_detection_ejections_active{envoy_cluster_name=\"outbound|8080|v2|kyc-credit-check-advanced.default.svc.cluster.local\"} 1\n";
    window.push(
        t0 + Duration::from_secs(10),
        parse(&(text(100, 85, 10, 5) + ejected)),
    );
    let two = InstanceCount { ready: 1, total: 2 };
    let ready: BTreeMap<String, InstanceCount> =
        [("kyc-credit-check-advanced".to_string(), two)].into();
    let state = mesh();
    let sidecar = SidecarView {
        ready: false,
        mtls: "STRICT".into(),
    };
    let sidecars = [("kyc-credit-check-basic".to_string(), sidecar.clone())].into();
    let v = build(Inputs {
        topology: &topology,
        window: &window,
        envoy_up: true,
        mesh: Some(&state),
        ready: &ready,
        sidecars: &sidecars,
        ambient: None,
        scenario: None,
        scenarios: vec![],
        auth: None,
        checks: vec![],
        events: vec![],
        now_ms: 1,
    });
    let d = &v.routes[0].destinations;
    assert_eq!((d[0].weight, d[1].weight), (90, 10));
    assert_eq!(d[0].observed_percent, Some(85.0));
    assert_eq!(d[1].observed_percent, Some(15.0));
    assert_eq!(d[1].figures.success_rate.map(f64::round), Some(67.0));
    let edge = |from: &str, to: &str| {
        v.edges
            .iter()
            .find(|e| e.from == from && e.to == to)
            .map(|e| e.figures)
            .expect("edge")
    };
    assert_eq!(edge(CLIENT, GATEWAY).requests, 100);
    assert_eq!(edge("kyc-aggregator-mgt", GATEWAY_MESH).requests, 100);
    assert_eq!(edge(GATEWAY_MESH, "kyc-credit-check-basic").rps, 8.5);
    // Readiness per service: only advanced answered its /readyz.
    let node = |id: &str| v.nodes.iter().find(|n| n.id == id).expect("node");
    assert_eq!(node("kyc-credit-check-advanced").ready, Some(true));
    assert_eq!(node("kyc-credit-check-advanced").instances, Some(two));
    assert_eq!(node("kyc-credit-check-basic").ready, Some(false));
    assert_eq!(node(CLIENT).ready, None);
    // "1 of 2 ejected" on advanced's node and version; none elsewhere; not a workload: absent.
    assert_eq!(node("kyc-credit-check-advanced").ejected, Some(1));
    assert_eq!(node("kyc-credit-check-basic").ejected, Some(0));
    assert_eq!(node(GATEWAY).ejected, None);
    let version = |host: &str| v.versions.iter().find(|x| x.host == host).expect("version");
    assert_eq!(version("kyc-credit-check-advanced").ejected, 1);
    assert_eq!(version("kyc-credit-check-basic").ejected, 0);
    let json = serde_json::to_value(&v).expect("json");
    assert!(json["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .any(|x| x["host"] == "kyc-credit-check-advanced" && x["ejected"] == 1));
    // The sidecars the collector found mark their workload's node; the Envoys have none.
    assert_eq!(node("kyc-credit-check-basic").sidecar, Some(sidecar));
    assert_eq!(node("kyc-credit-check-advanced").sidecar, None);
    assert_eq!(node(GATEWAY).sidecar, None);
    assert!(v.mesh_up);
    // Without up's state (its loop did not answer): no routes, said so, the graph still drawn.
    let v = build(Inputs {
        topology: &topology,
        window: &window,
        envoy_up: false,
        mesh: None,
        ready: &ready,
        sidecars: &Default::default(),
        ambient: None,
        scenario: None,
        scenarios: vec![],
        auth: None,
        checks: vec![],
        events: vec![],
        now_ms: 1,
    });
    assert!(!v.mesh_up && v.routes.is_empty());
    assert_eq!(v.nodes.len(), 6);
    assert_eq!(node_ready(&v, GATEWAY), Some(false));
}

fn node_ready(v: &View, id: &str) -> Option<bool> {
    v.nodes.iter().find(|n| n.id == id).and_then(|n| n.ready)
}

/// A waypoint's Envoy text: the routes' clusters (named as Istio names them, no subset), and
/// the internal `inbound-vip` cluster that counts every call to the Service (not a version's).
fn waypoint_text(basic: u64, advanced: u64, failed: u64) -> String {
    let line = |cluster: &str, class: u8, n: u64| {
        format!("envoy_cluster_upstream_rq_xx{{envoy_response_code_class=\"{class}\",envoy_cluster_name=\"{cluster}\"}} {n}\n")
    };
    let fqdn = |host: &str| format!("{host}.default.svc.cluster.local");
    line(
        &format!("outbound|8080||{}", fqdn("kyc-credit-check-basic")),
        2,
        basic,
    ) + &line(
        &format!("outbound|8080||{}", fqdn("kyc-credit-check-advanced")),
        2,
        advanced,
    ) + &line(
        &format!("outbound|8080||{}", fqdn("kyc-credit-check-advanced")),
        5,
        failed,
    ) + &line(
        &format!("inbound-vip|8080|http|{}", fqdn("kyc-credit-check-basic")),
        2,
        basic + advanced + failed,
    )
}

/// The view of a mesh whose Envoys answer, without `up`'s state, readiness or sidecars.
fn view_of(topology: &Topology, window: &Window, ambient: Option<Ambient<'_>>) -> View {
    build(Inputs {
        topology,
        window,
        envoy_up: true,
        mesh: None,
        ready: &BTreeMap::new(),
        sidecars: &BTreeMap::new(),
        ambient,
        scenario: None,
        scenarios: vec![],
        auth: None,
        checks: vec![],
        events: vec![],
        now_ms: 1,
    })
}

fn ambient_status(nodes: usize) -> crate::status::AmbientStatus {
    use crate::status::{AmbientStatus, NodeStatus, WaypointStatus};
    let pods = [
        "kyc-aggregator-mgt-0",
        "kyc-credit-check-advanced-0",
        "kyc-credit-check-basic-0",
    ];
    AmbientStatus {
        workloads: pods
            .iter()
            .map(|p| p.trim_end_matches("-0").to_string())
            .collect(),
        nodes: (0..nodes)
            .map(|n| NodeStatus {
                name: format!("node-{}", n + 1),
                admin: 15020 + n as u16,
                pods: pods
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % nodes == n)
                    .map(|(_, p)| p.to_string())
                    .collect(),
            })
            .collect(),
        hbone: Default::default(),
        outbound: Vec::new(),
        waypoints: vec![WaypointStatus {
            name: "waypoint".into(),
            hbone: 15008,
            admin: 15021,
            spiffe: "spiffe://cluster.local/ns/default/sa/waypoint".into(),
        }],
    }
}

#[test]
fn in_ambient_mode_the_calls_go_through_node_proxies_and_the_waypoint_with_its_figures() {
    let topology = Topology::new(&Ports::default());
    let t0 = Instant::now();
    // The gateway only sees the client's calls to the aggregator.
    let mut gateway = Window::new(Duration::from_secs(10));
    gateway.push(t0, parse(&text(0, 0, 0, 0)));
    gateway.push(t0 + Duration::from_secs(10), parse(&text(100, 0, 0, 0)));
    // The waypoint's clusters, keyed by waypoint as the collector merges them.
    let mut waypoint = Window::new(Duration::from_secs(10));
    let merged = |text: &str| {
        let mut s = crate::dashboard::figures::Sample::default();
        for (c, series) in parse(text).clusters {
            s.clusters.insert(format!("waypoint/{c}"), series);
        }
        s
    };
    waypoint.push(t0, merged(&waypoint_text(0, 0, 0)));
    waypoint.push(
        t0 + Duration::from_secs(10),
        merged(&waypoint_text(50, 45, 5)),
    );
    let reading = crate::dashboard::ambient::Reading {
        status: ambient_status(2),
        nodes_up: ["node-1".to_string()].into(),
        waypoints_up: ["waypoint".to_string()].into(),
    };
    let ambient = Ambient {
        reading: &reading,
        window: &waypoint,
    };
    let v = view_of(&topology, &gateway, Some(ambient));
    let node = |id: &str| v.nodes.iter().find(|n| n.id == id).expect(id);
    let edge = |from: &str, to: &str| {
        v.edges
            .iter()
            .find(|e| e.from == from && e.to == to)
            .map(|e| e.figures)
            .unwrap_or_else(|| panic!("no edge {from} → {to}: {:?}", v.edges))
    };
    // Not through the gateway: no gateway-mesh node, no edge to or from it.
    assert!(v.nodes.iter().all(|n| n.id != GATEWAY_MESH));
    assert!(v
        .edges
        .iter()
        .all(|e| e.from != GATEWAY_MESH && e.to != GATEWAY_MESH));
    let (agg, basic, adv) = (
        "kyc-aggregator-mgt",
        "kyc-credit-check-basic",
        "kyc-credit-check-advanced",
    );
    let (np_agg, np_basic, np_adv) = (
        format!("node-proxy:{agg}"),
        format!("node-proxy:{basic}"),
        format!("node-proxy:{adv}"),
    );
    let wp = "waypoint:waypoint";
    // aggregator → its node proxy → the waypoint: every call to a scorer (100).
    assert_eq!(edge(agg, &np_agg).requests, 100);
    assert_eq!(edge(&np_agg, wp).requests, 100);
    // The waypoint's edges: each scorer's own figures, from the waypoint's clusters (not the
    // internal inbound-vip one).
    let to_adv = edge(wp, &np_adv);
    assert_eq!((to_adv.requests, to_adv.rps), (50, 5.0));
    assert_eq!(to_adv.success_rate, Some(90.0));
    assert_eq!(edge(wp, &np_basic).requests, 50);
    assert_eq!(edge(&np_basic, basic).requests, 50);
    assert_eq!(edge(&np_adv, adv).requests, 50);
    // The versions' figures are the waypoint's too.
    let version = |host: &str| v.versions.iter().find(|x| x.host == host).expect(host);
    assert_eq!(version(adv).figures, to_adv);
    // Columns left to right: aggregator 2, its node proxy 3, waypoint 4, the scorers' node
    // proxies 5, the scorers 6.
    let columns: Vec<(&str, u8)> = [agg, &np_agg, wp, &np_adv, adv]
        .iter()
        .map(|id| (*id, node(id).column))
        .collect();
    assert_eq!(
        columns,
        [(agg, 2), (&*np_agg, 3), (wp, 4), (&*np_adv, 5), (adv, 6)]
    );
    // Two nodes: the aggregator and basic on node-1, advanced on node-2 (down: no /healthz).
    let np = |id: &str| node(id).node_proxy.clone().expect("a node proxy");
    assert_eq!(np(&np_agg).nodes, ["node-1"]);
    assert_eq!(np(&np_agg).side, "outbound");
    assert_eq!(
        np(&np_agg).pods,
        ["kyc-aggregator-mgt-0", "kyc-credit-check-basic-0"]
    );
    assert_eq!(node(&np_agg).label, "node-1");
    assert_eq!(node(&np_agg).ready, Some(true));
    assert_eq!(np(&np_adv).nodes, ["node-2"]);
    assert_eq!(np(&np_adv).side, "inbound");
    assert_eq!(node(&np_adv).ready, Some(false));
    let w = node(wp).waypoint.clone().expect("the waypoint");
    assert_eq!((w.hbone, w.admin), (15008, 15021));
    assert_eq!(node(wp).ready, Some(true));
    let json = serde_json::to_value(&v).expect("json");
    let np_json = json["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == np_agg.as_str()))
        .expect("node proxy in JSON");
    assert_eq!(np_json["nodeProxy"]["nodes"][0], "node-1");
    // The waypoint's HTTPRoute rule: its observed split is the waypoint's (the gateway saw
    // none of those calls).
    let mut state = mesh();
    state.routes = vec![WeightedRoute {
        route: RouteRef::new("kyc-credit-check-canary", "credit-check-report"),
        kind: crate::weights::RouteKind::HttpRoute {
            services: vec![basic.to_string()],
        },
        destinations: vec![
            crate::weights::WeightedDestination {
                host: basic.into(),
                subset: None,
                weight: 50,
            },
            crate::weights::WeightedDestination {
                host: adv.into(),
                subset: None,
                weight: 50,
            },
        ],
        overridden: false,
    }];
    let v = build(Inputs {
        topology: &topology,
        window: &gateway,
        envoy_up: true,
        mesh: Some(&state),
        ready: &BTreeMap::new(),
        sidecars: &BTreeMap::new(),
        ambient: Some(Ambient {
            reading: &reading,
            window: &waypoint,
        }),
        scenario: None,
        scenarios: vec![],
        auth: None,
        checks: vec![],
        events: vec![],
        now_ms: 1,
    });
    let route = &v.routes[0];
    assert_eq!(route.kind, "HTTPRoute");
    let observed: Vec<Option<f64>> = route
        .destinations
        .iter()
        .map(|d| d.observed_percent)
        .collect();
    assert_eq!(observed, [Some(50.0), Some(50.0)]);
}

#[test]
fn the_sidecar_graph_has_no_ambient_part() {
    let topology = Topology::new(&Ports::default());
    let v = view_of(&topology, &Window::new(Duration::from_secs(10)), None);
    let ids: Vec<(&str, u8)> = v.nodes.iter().map(|n| (n.id.as_str(), n.column)).collect();
    assert_eq!(
        ids,
        [
            (CLIENT, 0),
            (GATEWAY, 1),
            ("kyc-aggregator-mgt", 2),
            (GATEWAY_MESH, 3),
            ("kyc-credit-check-basic", 4),
            ("kyc-credit-check-advanced", 4),
        ]
    );
    let json = serde_json::to_string(&v).expect("json");
    assert!(!json.contains("nodeProxy") && !json.contains("\"waypoint\""));
}
