use super::*;
use crate::envoy::telemetry::SERVICE_NAME;
use crate::traces::model::Kind;

fn names() -> MeshNames {
    MeshNames {
        entry: "kyc-aggregator-mgt".into(),
        versions: [
            ("kyc-aggregator-mgt", "v1"),
            ("kyc-credit-check-basic", "v1"),
            ("kyc-credit-check-advanced", "v2"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect(),
    }
}

struct B {
    trace: u8,
    spans: Vec<Span>,
}

impl B {
    fn new(trace: u8) -> B {
        B {
            trace,
            spans: Vec::new(),
        }
    }
    #[allow(clippy::too_many_arguments)]
    fn span(
        mut self,
        id: u8,
        parent: Option<u8>,
        service: &str,
        kind: Kind,
        start: u64,
        ms: u64,
        status: u16,
        attrs: &[(&str, &str)],
    ) -> B {
        self.spans.push(Span {
            trace_id: TraceId([self.trace; 16]),
            span_id: SpanId([id; 8]),
            parent_id: parent.map(|p| SpanId([p; 8])),
            service: service.into(),
            name: format!("span {id}"),
            kind,
            start_ns: self.base() + start * 1_000_000,
            end_ns: self.base() + (start + ms) * 1_000_000,
            error: status >= 500,
            http_status: Some(status),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            hidden: 0,
        });
        self
    }
    /// Each trace starts a second after the one before.
    fn base(&self) -> u64 {
        1_700_000_000_000_000_000 + u64::from(self.trace) * 1_000_000_000
    }
    fn trace(self) -> Trace {
        Trace {
            id: TraceId([self.trace; 16]),
            spans: self.spans,
            logs: Vec::new(),
            bytes: 0,
            seq: u64::from(self.trace),
            updated_ms: 0,
        }
    }
}

fn cluster(host: &str, subset: &str) -> String {
    format!("outbound|8080|{subset}|{host}.default.svc.cluster.local")
}

/// The full path with sidecars: gateway → aggregator's sidecar → aggregator → its call →
/// its sidecar's outbound → gateway (mesh route) → scorer's sidecar → scorer.
fn chain(trace: u8, scorer: &str, scorer_ms: u64, status: u16) -> Trace {
    let agg = cluster("kyc-aggregator-mgt", "");
    let to = cluster(
        scorer,
        if scorer.ends_with("basic") {
            "v1"
        } else {
            "v2"
        },
    );
    let sidecar = |w: &str| format!("{w}.default");
    B::new(trace)
        .span(
            1,
            None,
            SERVICE_NAME,
            Kind::Server,
            0,
            scorer_ms + 10,
            200,
            &[
                ("http.method", "POST"),
                ("http.url", "http://127.0.0.1:8000/kyc/v1/customer"),
                ("upstream_cluster", &agg),
                ("kyc.hop", "gateway"),
            ],
        )
        .span(
            2,
            Some(1),
            &sidecar("kyc-aggregator-mgt"),
            Kind::Server,
            1,
            scorer_ms + 8,
            200,
            &[("kyc.hop", "sidecar-inbound")],
        )
        .span(
            3,
            Some(2),
            "kyc-aggregator-mgt",
            Kind::Server,
            2,
            scorer_ms + 6,
            200,
            &[],
        )
        .span(
            4,
            Some(3),
            "kyc-aggregator-mgt",
            Kind::Client,
            3,
            scorer_ms + 4,
            status,
            &[],
        )
        .span(
            5,
            Some(4),
            &sidecar("kyc-aggregator-mgt"),
            Kind::Server,
            3,
            scorer_ms + 3,
            status,
            &[("kyc.hop", "sidecar-outbound")],
        )
        .span(
            6,
            Some(5),
            SERVICE_NAME,
            Kind::Server,
            4,
            scorer_ms + 2,
            status,
            &[("upstream_cluster", &to), ("kyc.hop", "gateway")],
        )
        .span(
            7,
            Some(6),
            &sidecar(scorer),
            Kind::Server,
            4,
            scorer_ms + 1,
            status,
            &[("kyc.hop", "sidecar-inbound")],
        )
        .span(8, Some(7), scorer, Kind::Server, 5, scorer_ms, status, &[])
        .trace()
}

const BASIC: &str = "kyc-credit-check-basic";
const ADVANCED: &str = "kyc-credit-check-advanced";

#[test]
fn a_summary_says_entry_status_duration_versions_and_spans() {
    let t = chain(1, ADVANCED, 30, 200);
    let s = summarize(&t, &names(), None).expect("summary");
    assert_eq!(s.entry, "POST /kyc/v1/customer");
    assert_eq!((s.status, s.error, s.spans), (Some(200), false, 8));
    assert_eq!(s.versions, ["v2"]);
    assert_eq!(s.served_by, [ADVANCED]);
    assert_eq!(s.duration_ms, 40.0);
}

#[test]
fn filters_errors_slowness_version_and_an_edge() {
    let traces = [
        chain(1, BASIC, 5, 200),
        chain(2, ADVANCED, 300, 200),
        chain(3, ADVANCED, 20, 503),
        chain(4, BASIC, 50, 200),
    ];
    let n = names();
    let ids = |f: &Filter| -> Vec<u8> {
        list(traces.iter(), &n, f)
            .traces
            .iter()
            .map(|s| s.trace_id.0[0])
            .collect()
    };
    let parse = |q: &str| Filter::from_query(Some(q)).expect(q);
    assert_eq!(ids(&parse("")), [4, 3, 2, 1]);
    assert_eq!(ids(&parse("errors=true")), [3]);
    assert_eq!(ids(&parse("minMs=100")), [2]);
    assert_eq!(ids(&parse("version=v2&sort=slowest")), [2, 3]);
    assert_eq!(
        ids(&parse("version=kyc-credit-check-basic&sort=slowest")),
        [4, 1]
    );
    // One click from the edge gateway-mesh → advanced: its slowest, then its failing traces.
    assert_eq!(
        ids(&parse(
            "from=gateway-mesh&to=kyc-credit-check-advanced&sort=slowest"
        )),
        [2, 3]
    );
    assert_eq!(
        ids(&parse(
            "from=gateway-mesh&to=kyc-credit-check-advanced&errors=true"
        )),
        [3]
    );
    assert!(ids(&parse(
        "from=gateway-mesh&to=kyc-credit-check-basic&errors=true"
    ))
    .is_empty());
    let edge = list(
        traces.iter(),
        &n,
        &parse("from=gateway-mesh&to=kyc-credit-check-advanced&sort=slowest"),
    );
    assert_eq!(edge.traces[0].edge_ms, Some(302.0));
    assert_eq!(edge.matched, 2);
    // The aggregator's edge and the client's.
    assert_eq!(
        ids(&parse("from=kyc-aggregator-mgt&to=gateway-mesh&errors=1")),
        [3]
    );
    assert_eq!(ids(&parse("from=client&to=gateway&limit=2")).len(), 2);
}

#[test]
fn bad_filters_name_their_parameter() {
    for (q, field) in [
        ("minMs=fast", "minMs"),
        ("minMs=-1", "minMs"),
        ("sort=oldest", "sort"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("from=client", "to"),
        ("errors=maybe", "errors"),
        ("colour=red", "colour"),
    ] {
        let e = Filter::from_query(Some(q)).expect_err(q);
        assert_eq!(e.field, field, "{q}: {e}");
    }
    let f = Filter::from_query(Some(
        "version=v%32&from=gateway-mesh&to=kyc-credit-check-advanced",
    ))
    .expect("encoded");
    assert_eq!(f.version.as_deref(), Some("v2"));
}

#[test]
fn the_waterfall_is_depth_first_with_every_hop_labelled_and_its_access_log() {
    let mut t = chain(1, ADVANCED, 30, 200);
    t.logs.push(LogLine {
        trace_id: t.id,
        span_id: None,
        service: SERVICE_NAME.into(),
        upstream_cluster: Some(cluster(ADVANCED, "v2")),
        at_ns: t.spans[5].start_ns,
        text: "mesh route line".into(),
    });
    t.logs.push(LogLine {
        trace_id: t.id,
        span_id: Some(SpanId([2; 8])),
        service: "kyc-aggregator-mgt.default".into(),
        upstream_cluster: None,
        at_ns: 0,
        text: "sidecar line".into(),
    });
    let d = detail(&t, &names()).expect("detail");
    let labels: Vec<&str> = d.spans.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "ingress gateway",
            "kyc-aggregator-mgt's sidecar · inbound",
            "kyc-aggregator-mgt v1",
            "kyc-aggregator-mgt · call",
            "kyc-aggregator-mgt's sidecar · outbound",
            "gateway · mesh route",
            "kyc-credit-check-advanced's sidecar · inbound",
            "kyc-credit-check-advanced v2",
        ]
    );
    assert_eq!(
        d.spans.iter().map(|s| s.depth).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(d.spans[5].access_log, ["mesh route line"]);
    assert_eq!(d.spans[1].access_log, ["sidecar line"]);
    assert_eq!(d.spans[7].offset_ms, 5.0);
    assert!(d.other_access_log.is_empty());
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(json["traceId"], "01010101010101010101010101010101");
    assert_eq!(json["spans"][0]["hop"]["kind"], "ingress");
    assert_eq!(json["spans"][7]["hop"]["workload"], ADVANCED);
}

/// The path in ambient mode: gateway → aggregator → its call → waypoint (server, then its
/// attempt) → scorer; the node proxies add no span.
fn ambient_chain(trace: u8, scorer: &str, scorer_ms: u64, status: u16) -> Trace {
    let agg = cluster("kyc-aggregator-mgt", "");
    let to = cluster(scorer, "");
    let waypoint = "waypoint.default";
    B::new(trace)
        .span(
            1,
            None,
            SERVICE_NAME,
            Kind::Server,
            0,
            scorer_ms + 10,
            200,
            &[("upstream_cluster", &agg), ("kyc.hop", "gateway")],
        )
        .span(
            2,
            Some(1),
            "kyc-aggregator-mgt",
            Kind::Server,
            1,
            scorer_ms + 8,
            200,
            &[],
        )
        .span(
            3,
            Some(2),
            "kyc-aggregator-mgt",
            Kind::Client,
            2,
            scorer_ms + 6,
            status,
            &[],
        )
        .span(
            4,
            Some(3),
            waypoint,
            Kind::Server,
            3,
            scorer_ms + 4,
            status,
            &[("upstream_cluster", &to), ("kyc.hop", "waypoint")],
        )
        .span(
            5,
            Some(4),
            waypoint,
            Kind::Client,
            3,
            scorer_ms + 3,
            status,
            &[("upstream_cluster", &to), ("kyc.hop", "waypoint")],
        )
        .span(6, Some(5), scorer, Kind::Server, 4, scorer_ms, status, &[])
        .trace()
}

#[test]
fn the_ambient_graphs_edges_find_their_traces() {
    let traces = [
        ambient_chain(1, BASIC, 5, 200),
        ambient_chain(2, ADVANCED, 300, 200),
        ambient_chain(3, ADVANCED, 20, 503),
    ];
    let n = names();
    let ids = |q: &str| -> Vec<u8> {
        let f = Filter::from_query(Some(q)).expect(q);
        list(traces.iter(), &n, &f)
            .traces
            .iter()
            .map(|s| s.trace_id.0[0])
            .collect()
    };
    // The waypoint's edge to advanced's node proxy: its attempts to advanced.
    assert_eq!(
        ids("from=waypoint:waypoint&to=node-proxy:kyc-credit-check-advanced&sort=slowest"),
        [2, 3]
    );
    assert_eq!(
        ids("from=waypoint:waypoint&to=node-proxy:kyc-credit-check-advanced&errors=true"),
        [3]
    );
    assert_eq!(
        ids("from=node-proxy:kyc-credit-check-basic&to=kyc-credit-check-basic"),
        [1]
    );
    // The aggregator's calls, to its node proxy and on to the waypoint.
    assert_eq!(
        ids("from=kyc-aggregator-mgt&to=node-proxy:kyc-aggregator-mgt&errors=true"),
        [3]
    );
    assert_eq!(
        ids("from=node-proxy:kyc-aggregator-mgt&to=waypoint:waypoint&sort=slowest"),
        [2, 3, 1]
    );
    let edge = list(
        traces.iter(),
        &n,
        &Filter::from_query(Some(
            "from=node-proxy:kyc-aggregator-mgt&to=waypoint:waypoint&sort=slowest",
        ))
        .expect("filter"),
    );
    assert_eq!(edge.traces[0].edge_ms, Some(304.0));
}
