//! VirtualService routes → Envoy routes.

use super::*;
use crate::envoy::listener::FAULT_FILTER;
use crate::envoy::route::{
    AppendAction, HeaderMatcher, HeaderMutations, HeaderValue, HeaderValueOption, HttpFault,
    PerFilterConfig, RegexMatcher, StringMatcher,
};
use crate::envoy::{Message, Weight};
use crate::translate::route::ISTIO_DEFAULT_RETRY_ON;

#[test]
fn weighted_split_becomes_weighted_clusters_with_subset_clusters() {
    let cfg = ok(&vs(r#"
  - match: [{uri: {prefix: /credit-check/report}}]
    route:
    - {destination: {host: kyc-credit-check-basic, subset: v1, port: {number: 8080}}, weight: 90}
    - {destination: {host: kyc-credit-check-advanced, subset: v2}, weight: 10}
"#));
    let r = &cfg.routes()[0];
    assert_eq!(r.matcher, prefix("/credit-check/report"));
    // The YAML weights, typed all the way: Weight in a WeightedCluster named by ClusterName.
    let split = |name, weight| WeightedCluster {
        name,
        weight: Weight(weight),
        headers: HeaderMutations::default(),
    };
    assert_eq!(weighted(r), [split(basic(), 90), split(advanced(), 10)]);
    assert_eq!(
        (basic().to_string(), advanced().to_string()),
        (BASIC.into(), ADVANCED.into())
    );
    // subset → endpoints of the pods it selects (local ports of the contract)
    let port = |c: &Cluster| {
        c.load_assignment.endpoints[0].lb_endpoints[0]
            .endpoint
            .address
            .socket_address
            .port_value
    };
    assert_eq!(port(cfg.cluster(BASIC)), 8081);
    assert_eq!(port(cfg.cluster(ADVANCED)), 8082);
    assert_eq!(
        cfg.proxy.listeners[0].routes.virtual_hosts[0].domains,
        ["*"]
    );
    assert_eq!(cfg.proxy.listeners[0].listener.local_port, 8000);
}

#[test]
fn first_match_wins_and_matches_keep_file_order() {
    let cfg = ok(&vs(r#"
  - name: testers
    match:
    - uri: {prefix: /credit-check/report}
      headers: {x-kyc-tester: {exact: advanced}}
    route: [{destination: {host: kyc-credit-check-advanced, subset: v2}}]
  - name: exact
    match: [{uri: {exact: /credit-check/basic}}, {uri: {regex: "/cc/(basic|b)"}, ignoreUriCase: true}]
    route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]
  - route: [{destination: {host: kyc-credit-check-basic}}]
"#));
    let r = cfg.routes();
    assert_eq!(
        r.len(),
        4,
        "one Envoy route per match, catch-all last: {r:#?}"
    );
    assert_eq!(r[0].name, "cc.testers");
    assert_eq!(
        r[0].matcher,
        RouteMatch {
            headers: vec![HeaderMatcher {
                name: "x-kyc-tester".into(),
                string_match: StringMatcher::Exact("advanced".into()),
                invert_match: false,
            }],
            ..prefix("/credit-check/report")
        }
    );
    assert_eq!(single(&r[0]), ADVANCED);
    assert_eq!(
        r[1].matcher,
        RouteMatch {
            path: PathMatch::Path("/credit-check/basic".into()),
            ..prefix("/")
        }
    );
    assert_eq!(
        r[2].matcher,
        RouteMatch {
            path: PathMatch::SafeRegex(RegexMatcher {
                regex: "/cc/(basic|b)".into()
            }),
            case_sensitive: Some(false),
            ..prefix("/")
        }
    );
    assert_eq!(r[3].matcher, prefix("/"));
    assert_eq!(
        single(&r[3]),
        "outbound|8080||kyc-credit-check-basic.default.svc.cluster.local"
    );
}

#[test]
fn rewrite_timeout_and_default_timeout() {
    let cfg = ok(&vs(r#"
  - match: [{uri: {prefix: /ingress/kyc}}]
    rewrite: {uri: /kyc, authority: kyc.internal}
    timeout: 2500ms
    route: [{destination: {host: kyc-aggregator-mgt}}]
  - route: [{destination: {host: kyc-aggregator-mgt}}]
"#));
    let r = cfg.routes();
    assert_eq!(r[0].route.prefix_rewrite.as_deref(), Some("/kyc"));
    assert_eq!(
        r[0].route.host_rewrite_literal.as_deref(),
        Some("kyc.internal")
    );
    assert_eq!(
        r[0].route.timeout.map(|t| t.to_string()).as_deref(),
        Some("2.5s")
    );
    assert_eq!(
        r[1].route.timeout.map(|t| t.to_string()).as_deref(),
        Some("0s"),
        "Istio disables Envoy's 15s default"
    );
}

#[test]
fn retries_map_to_retry_policy_and_default_is_istios() {
    let cfg = ok(&vs(r#"
  - match: [{uri: {prefix: /a}}]
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,reset,503"}
    route: [{destination: {host: kyc-credit-check-basic}}]
  - match: [{uri: {prefix: /b}}]
    retries: {attempts: 0}
    route: [{destination: {host: kyc-credit-check-basic}}]
  - route: [{destination: {host: kyc-credit-check-basic}}]
"#));
    let r = cfg.routes();
    let p = r[0].route.retry_policy.as_ref().expect("retry policy");
    assert_eq!(p.num_retries, 3);
    assert_eq!(
        p.per_try_timeout.map(|t| t.to_string()).as_deref(),
        Some("0.5s")
    );
    assert_eq!(p.retry_on, "5xx,reset,retriable-status-codes");
    assert_eq!(p.retriable_status_codes, [503]);
    assert!(
        r[1].route.retry_policy.is_none(),
        "attempts 0 disables retries"
    );
    let d = r[2]
        .route
        .retry_policy
        .as_ref()
        .expect("default retry policy");
    assert_eq!(d.num_retries, 2);
    assert_eq!(d.retry_on, ISTIO_DEFAULT_RETRY_ON);
}

#[test]
fn fault_delay_and_abort_are_per_route_filter_config() {
    let cfg = ok(&vs(r#"
  - match: [{uri: {prefix: /credit-check/advanced}}]
    fault:
      delay: {fixedDelay: 1s, percentage: {value: 100}}
      abort: {httpStatus: 503, percentage: {value: 12.5}}
    route: [{destination: {host: kyc-credit-check-advanced, subset: v2}}]
  - route: [{destination: {host: kyc-credit-check-basic}}]
"#));
    let r = cfg.routes();
    let PerFilterConfig::Fault(f) = &r[0].typed_per_filter_config[FAULT_FILTER] else {
        panic!("fault config expected");
    };
    assert_eq!(
        f.type_url,
        "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
    );
    assert_eq!(f.type_url, HttpFault::TYPE_URL);
    let delay = f.value.delay.as_ref().expect("delay");
    assert_eq!(delay.fixed_delay.to_string(), "1s");
    assert_eq!(delay.percentage.numerator, 1_000_000);
    let abort = f.value.abort.as_ref().expect("abort");
    assert_eq!(
        (abort.http_status, abort.percentage.numerator),
        (503, 125_000)
    );
    assert!(r[1].typed_per_filter_config.is_empty());
    // the listener carries the fault filter before the router
    let l = cfg.proxy.listeners[0].listener.build(
        RouteSpecifier::RouteConfig(cfg.proxy.listeners[0].routes.clone()),
        None,
    );
    let filters = &l.filter_chains[0].filters[0]
        .typed_config
        .value
        .http_filters;
    assert_eq!(filters[0].name, FAULT_FILTER);
    assert_eq!(filters[1].name, "envoy.filters.http.router");
}

#[test]
fn mirror_with_percentage_and_default_100() {
    let cfg = ok(&vs(r#"
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]
    mirror: {host: kyc-credit-check-advanced, subset: v2}
    mirrorPercentage: {value: 25}
  - route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]
    mirror: {host: kyc-credit-check-advanced, subset: v2}
"#));
    let r = cfg.routes();
    let m = &r[0].route.request_mirror_policies;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].cluster, advanced());
    assert_eq!(m[0].runtime_fraction.default_value.numerator, 250_000);
    assert!(!m[0].trace_sampled);
    assert_eq!(
        r[1].route.request_mirror_policies[0]
            .runtime_fraction
            .default_value
            .numerator,
        1_000_000
    );
}

#[test]
fn header_manipulation_route_and_destination_level() {
    let cfg = ok(&vs(r#"
  - headers:
      request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}
      response: {set: {x-mesh: local}, remove: [server]}
    route:
    - {destination: {host: kyc-credit-check-basic, subset: v1}, weight: 50, headers: {response: {set: {x-canary: basic}}}}
    - {destination: {host: kyc-credit-check-advanced, subset: v2}, weight: 50}
"#));
    let r = &cfg.routes()[0];
    let header = |key: &str, value: &str| HeaderValue {
        key: key.into(),
        value: value.into(),
    };
    assert_eq!(
        r.headers.request_headers_to_add,
        [
            HeaderValueOption {
                header: header("x-a", "1"),
                append_action: AppendAction::OverwriteIfExistsOrAdd
            },
            HeaderValueOption {
                header: header("x-b", "2"),
                append_action: AppendAction::AppendIfExistsOrAdd
            }
        ]
    );
    assert_eq!(r.headers.request_headers_to_remove, ["x-c"]);
    assert_eq!(r.headers.response_headers_to_remove, ["server"]);
    assert_eq!(
        r.headers.response_headers_to_add[0].header,
        header("x-mesh", "local")
    );
    assert_eq!(
        weighted(r)[0].headers.response_headers_to_add[0].header,
        header("x-canary", "basic")
    );
}

#[test]
fn yaml_and_json_renderings_agree() {
    // `render` prints YAML by default: every matcher must stay a plain map there too.
    let cfg = ok(&vs(r#"
  - match: [{uri: {regex: "/a+"}, method: {exact: GET}, headers: {x-t: {prefix: a}}, withoutHeaders: {x-u: {regex: "b+"}}}]
    route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]
"#));
    let b = cfg.proxy.static_bootstrap(9901);
    let json = serde_json::to_value(&b).expect("json");
    let yaml = serde_norway::to_string(&b).expect("yaml");
    let back: serde_json::Value = serde_norway::from_str(&yaml).expect("yaml parses");
    assert_eq!(back, json, "{yaml}");
}
