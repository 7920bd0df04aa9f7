//! DestinationRules → Envoy clusters, and the bootstrap that holds them.

use super::*;
use crate::envoy::cluster::{CommonHttpProtocolOptions, LbPolicy, Thresholds};

#[test]
fn connection_pool_and_outlier_detection_become_circuit_breakers() {
    let text = format!(
        "{}\n---\n{}",
        vs("  - route: [{destination: {host: kyc-credit-check-advanced, subset: v2}}]\n"),
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: advanced}
spec:
  host: kyc-credit-check-advanced
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1, connectTimeout: 1s}
      http: {http1MaxPendingRequests: 2, http2MaxRequests: 3, maxRequestsPerConnection: 4, maxRetries: 5, idleTimeout: 30s}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}
    loadBalancer: {simple: ROUND_ROBIN}
  subsets: [{name: v2, labels: {version: v2}}]
"#
    );
    // The scenario's DestinationRule replaces BASE's "advanced" one (same kind and name).
    let base = parse_documents(&base(), Path::new("base.yaml")).expect("base");
    let over = parse_documents(&text, Path::new("scenario.yaml")).expect("scenario");
    let mut objects = base;
    for o in over {
        match objects
            .iter_mut()
            .find(|x| x.origin.kind == o.origin.kind && x.origin.name == o.origin.name)
        {
            Some(slot) => *slot = o,
            None => objects.push(o),
        }
    }
    let cfg = translate_objects(&objects);
    assert_eq!(cfg.errors().count(), 0, "{:#?}", cfg.findings);
    let c = cfg.cluster(ADVANCED);
    assert_eq!(
        c.circuit_breakers.thresholds[0],
        Thresholds {
            max_connections: 1,
            max_pending_requests: 2,
            max_requests: 3,
            max_retries: 5,
            track_remaining: true
        }
    );
    assert_eq!(c.connect_timeout.to_string(), "1s");
    assert_eq!(c.lb_policy, LbPolicy::RoundRobin);
    let opts = &c
        .typed_extension_protocol_options
        .as_ref()
        .expect("HttpProtocolOptions")
        .http
        .value;
    assert_eq!(
        opts.common_http_protocol_options,
        CommonHttpProtocolOptions {
            max_requests_per_connection: Some(4),
            idle_timeout: Some(Duration::from_secs(30)),
        }
    );
    let od = c.outlier_detection.as_ref().expect("outlier detection");
    assert_eq!(od.consecutive_5xx, Some(1));
    assert_eq!(od.enforcing_consecutive_5xx, 100);
    assert_eq!(od.interval.map(|d| d.to_string()).as_deref(), Some("1s"));
    assert_eq!(
        od.base_ejection_time.map(|d| d.to_string()).as_deref(),
        Some("30s")
    );
    assert_eq!(od.max_ejection_percent, Some(100));
    // without a connection pool Istio's defaults are "unlimited"
    let fresh = ok(&vs(
        "  - route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n",
    ));
    let thresholds = &fresh.cluster(BASIC).circuit_breakers.thresholds[0];
    assert_eq!(thresholds.max_connections, u64::from(u32::MAX));
    assert_eq!(fresh.cluster(BASIC).lb_policy, LbPolicy::LeastRequest);
}

#[test]
fn subset_traffic_policy_overrides_the_rule_level_one() {
    let cfg = ok(&format!(
        "{}\n---\n{}",
        vs("  - route: [{destination: {host: kyc-aggregator-mgt, subset: v1}}]\n"),
        r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: agg}
spec:
  host: kyc-aggregator-mgt
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 100}}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}
"#
    ));
    let c = cfg.cluster("outbound|8080|v1|kyc-aggregator-mgt.default.svc.cluster.local");
    assert_eq!(c.circuit_breakers.thresholds[0].max_connections, 7);
}

#[test]
fn static_bootstrap_has_listener_routes_and_clusters() {
    let cfg = ok(&vs(
        "  - route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n",
    ));
    let b = cfg.proxy.static_bootstrap(9901);
    assert_eq!(b.admin.address.socket_address.port_value, 9901);
    let resources = b.static_resources.as_ref().expect("static resources");
    let l = &resources.listeners[0];
    assert_eq!(
        (
            l.address.socket_address.address,
            l.address.socket_address.port_value
        ),
        ("127.0.0.1", 8000)
    );
    let hcm = &l.filter_chains[0].filters[0].typed_config.value;
    match &hcm.routes {
        RouteSpecifier::RouteConfig(rc) => assert_eq!(rc.name.to_string(), "http.80"),
        other => panic!("expected inline routes, got {other:?}"),
    }
    assert_eq!(resources.clusters[0].name, basic());
    // Serialised once, at the edge: the static bootstrap carries no `@type` on resources.
    let json = serde_json::to_value(&b).expect("serialises");
    assert_eq!(json["static_resources"]["clusters"][0]["name"], BASIC);
    assert!(json["static_resources"]["clusters"][0]
        .get("@type")
        .is_none());
}
