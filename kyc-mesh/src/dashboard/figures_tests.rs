use super::*;

const BASIC: &str = "outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local";

/// Envoy's text for one cluster and the gateway: `ok` 2xx, `failed` 5xx, and a histogram with
/// `fast` requests ≤ 5 ms and the rest ≤ 250 ms.
fn text(ok: u64, failed: u64, fast: u64) -> String {
    let total = ok + failed;
    let mut t = String::from("# TYPE envoy_cluster_upstream_rq_xx counter\n");
    for (class, n) in [(2, ok), (5, failed)] {
        t += &format!("envoy_cluster_upstream_rq_xx{{envoy_response_code_class=\"{class}\",envoy_cluster_name=\"{BASIC}\"}} {n}\n");
        t += &format!("envoy_cluster_external_upstream_rq_xx{{envoy_response_code_class=\"{class}\",envoy_cluster_name=\"{BASIC}\"}} 999\n");
        t += &format!("envoy_http_outbound_0_0_0_0_80_downstream_rq_xx{{envoy_response_code_class=\"{class}\"}} {n}\n");
        t += &format!("envoy_listener_127_0_0_1_8000_http_outbound_0_0_0_0_80_downstream_rq_xx{{envoy_response_code_class=\"{class}\"}} 999\n");
        t += &format!(
            "envoy_http_admin_downstream_rq_xx{{envoy_response_code_class=\"{class}\"}} 999\n"
        );
    }
    for (le, n) in [("0.5", 0), ("5", fast), ("250", total), ("+Inf", total)] {
        t += &format!(
            "envoy_cluster_upstream_rq_time_bucket{{envoy_cluster_name=\"{BASIC}\",le=\"{le}\"}} {n}\n"
        );
        t += &format!(
            "envoy_http_outbound_0_0_0_0_80_downstream_rq_time_bucket{{le=\"{le}\"}} {n}\n"
        );
    }
    t
}

#[test]
fn prometheus_text_is_read_per_cluster_and_for_the_gateway() {
    let s = parse(&text(90, 10, 50));
    let basic = &s.clusters[BASIC];
    assert_eq!(basic.classes, [0, 90, 0, 0, 10]);
    assert_eq!(basic.buckets.len(), 4);
    assert_eq!(
        s.gateway.classes,
        [0, 90, 0, 0, 10],
        "admin and listener copies skipped"
    );
    // A repeated line (Envoy repeats some with a filter) does not add up.
    let twice = text(90, 10, 50) + &text(90, 10, 50);
    assert_eq!(parse(&twice), s);
    assert_eq!(parse("garbage\n{\n 12\n"), Sample::default());
}

#[test]
fn figures_come_from_the_deltas_over_the_window() {
    let mut w = Window::new(Duration::from_secs(10));
    let t0 = Instant::now();
    assert_eq!(
        w.sum(|c| c == BASIC),
        Figures::default(),
        "one reading: no figures"
    );
    w.push(t0, parse(&text(100, 0, 100)));
    w.push(t0 + Duration::from_secs(5), parse(&text(190, 10, 100)));
    let f = w.sum(|c| c == BASIC);
    assert_eq!(f.requests, 100);
    assert!((f.rps - 20.0).abs() < 1e-9);
    assert_eq!(f.success_rate, Some(90.0));
    // Every new request took more than 5 ms: the p99 is the 250 ms bucket.
    assert_eq!(f.p99_ms, Some(250.0));
    assert_eq!(w.gateway().requests, 100);
    assert_eq!(w.sum(|c| c == "unknown").success_rate, None);
    // Older readings leave the window: only the last 10 s count.
    w.push(t0 + Duration::from_secs(11), parse(&text(190, 10, 100)));
    w.push(t0 + Duration::from_secs(16), parse(&text(290, 10, 200)));
    let f = w.sum(|c| c == BASIC);
    assert_eq!(f.requests, 100, "{w:?}");
    assert_eq!(f.success_rate, Some(100.0));
    assert_eq!(f.p99_ms, Some(5.0));
    w.clear();
    assert_eq!(w.seconds(), 0.0);
}

#[test]
fn a_counter_that_went_down_counts_from_zero() {
    let old = parse(&text(500, 0, 500));
    let new = parse(&text(10, 0, 10));
    let f = Figures::between(&old.clusters[BASIC], &new.clusters[BASIC], 1.0);
    assert_eq!(f.requests, 10);
    assert_eq!(f.p99_ms, Some(5.0));
}

#[test]
fn cluster_names_give_the_host_and_subset() {
    assert_eq!(
        cluster_host(BASIC),
        Some(("kyc-credit-check-basic", Some("v1")))
    );
    assert_eq!(
        cluster_host("outbound|8080||kyc-aggregator-mgt.default.svc.cluster.local"),
        Some(("kyc-aggregator-mgt", None))
    );
    assert_eq!(cluster_host("xds_cluster"), None);
}

#[test]
fn ejections_are_the_newest_reading_and_the_most_of_a_hosts_clusters() {
    const V2: &str = "outbound|8080|v2|kyc-credit-check-advanced.default.svc.cluster.local";
    const SERVICE: &str = "outbound|8080||kyc-credit-check-advanced.default.svc.cluster.local";
    let gauge = |subset: u64, service: u64| {
        format!(
            "# TYPE envoy_cluster_outlier_detection_ejections_active gauge\n\
             envoy_cluster_outlier_detection_ejections_active{{envoy_cluster_name=\"{V2}\"}} {subset}\n\
             envoy_cluster_outlier_detection_ejections_active{{envoy_cluster_name=\"{SERVICE}\"}} {service}\n"
        )
    };
    let advanced = |c: &str| cluster_host(c).is_some_and(|(h, _)| h == "kyc-credit-check-advanced");
    let mut w = Window::new(Duration::from_secs(10));
    assert_eq!(w.ejected(advanced), 0, "no reading: none");
    let t0 = Instant::now();
    w.push(t0, parse(&gauge(1, 0)));
    assert_eq!(w.ejected(advanced), 1);
    w.push(t0 + Duration::from_secs(1), parse(&gauge(1, 1)));
    assert_eq!(w.ejected(advanced), 1, "the same instance in both clusters");
    w.push(t0 + Duration::from_secs(2), parse(&gauge(0, 0)));
    assert_eq!(
        w.ejected(advanced),
        0,
        "the newest reading, not the window's"
    );
    w.push(t0 + Duration::from_secs(3), parse(&gauge(2, 0)));
    assert_eq!(w.ejected(|c| c.contains("basic")), 0);
}

#[test]
fn refusals_401_and_403_are_counted_per_cluster_over_the_window() {
    let with = |unauthorized: u64, forbidden: u64| {
        let mut t = text(100, 0, 100);
        for (code, n) in [("401", unauthorized), ("403", forbidden), ("404", 7)] {
            t += &format!("envoy_cluster_upstream_rq{{envoy_response_code=\"{code}\",envoy_cluster_name=\"{BASIC}\"}} {n}\n");
        }
        parse(&t)
    };
    let s = with(3, 5);
    assert_eq!(
        (s.clusters[BASIC].unauthorized, s.clusters[BASIC].forbidden),
        (3, 5)
    );
    let mut w = Window::new(Duration::from_secs(10));
    let t0 = Instant::now();
    w.push(t0, with(3, 5));
    w.push(t0 + Duration::from_secs(2), with(4, 9));
    let f = w.sum(|c| c == BASIC);
    assert_eq!((f.unauthorized, f.forbidden), (1, 4));
}
