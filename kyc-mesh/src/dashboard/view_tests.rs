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
