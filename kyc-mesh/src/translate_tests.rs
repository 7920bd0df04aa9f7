//! Translation unit tests: YAML in, Envoy configuration out, one feature at a time.

use std::path::Path;

use serde_json::{json, Value};

use super::*;
use crate::model::parse_documents;

const BASE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: kyc-aggregator-mgt}
spec:
  selector: {app: kyc-aggregator-mgt}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: kyc-credit-check-basic}
spec:
  selector: {app: kyc-credit-check-basic}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: kyc-credit-check-advanced}
spec:
  selector: {app: kyc-credit-check-advanced}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: kyc}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: basic}
spec:
  host: kyc-credit-check-basic
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: advanced}
spec:
  host: kyc-credit-check-advanced.default.svc.cluster.local
  subsets: [{name: v2, labels: {version: v2}}]
"#;

const BASIC: &str = "outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local";
const ADVANCED: &str = "outbound|8080|v2|kyc-credit-check-advanced.default.svc.cluster.local";

fn cfg_of(extra: &str) -> EnvoyConfig {
    let text = format!("{BASE}\n---\n{extra}");
    let objects = parse_documents(&text, Path::new("test.yaml")).expect("parses");
    translate(&objects, &Ports::default())
}

fn ok(extra: &str) -> EnvoyConfig {
    let cfg = cfg_of(extra);
    let errors: Vec<String> = cfg.errors().map(|f| f.to_string()).collect();
    assert!(errors.is_empty(), "unexpected findings: {errors:#?}");
    cfg
}

fn vs(http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: cc}}\nspec:\n  hosts: [\"*\"]\n  gateways: [kyc]\n  http:\n{http}"
    )
}

fn routes(cfg: &EnvoyConfig) -> Vec<Value> {
    cfg.route_config["virtual_hosts"][0]["routes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn cluster<'a>(cfg: &'a EnvoyConfig, name: &str) -> &'a Value {
    cfg.clusters
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

#[test]
fn weighted_split_becomes_weighted_clusters_with_subset_clusters() {
    let cfg = ok(&vs(r#"
  - match: [{uri: {prefix: /credit-check/report}}]
    route:
    - {destination: {host: kyc-credit-check-basic, subset: v1, port: {number: 8080}}, weight: 90}
    - {destination: {host: kyc-credit-check-advanced, subset: v2}, weight: 10}
"#));
    let r = &routes(&cfg)[0];
    assert_eq!(r["match"], json!({"prefix": "/credit-check/report"}));
    assert_eq!(
        r["route"]["weighted_clusters"]["clusters"],
        json!([{"name": BASIC, "weight": 90}, {"name": ADVANCED, "weight": 10}])
    );
    // subset → endpoints of the pods it selects (local ports of the contract)
    let port = |c: &Value| {
        c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"]["port_value"]
            .clone()
    };
    assert_eq!(port(cluster(&cfg, BASIC)), json!(8081));
    assert_eq!(port(cluster(&cfg, ADVANCED)), json!(8082));
    assert_eq!(
        cfg.route_config["virtual_hosts"][0]["domains"],
        json!(["*"])
    );
    assert_eq!(cfg.listener_port, 8000);
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
    let r = routes(&cfg);
    assert_eq!(
        r.len(),
        4,
        "one Envoy route per match, catch-all last: {r:#?}"
    );
    assert_eq!(r[0]["name"], "cc.testers");
    assert_eq!(
        r[0]["match"],
        json!({"prefix": "/credit-check/report", "headers": [{"name": "x-kyc-tester", "string_match": {"exact": "advanced"}}]})
    );
    assert_eq!(r[0]["route"]["cluster"], ADVANCED);
    assert_eq!(r[1]["match"], json!({"path": "/credit-check/basic"}));
    assert_eq!(
        r[2]["match"],
        json!({"safe_regex": {"regex": "/cc/(basic|b)"}, "case_sensitive": false})
    );
    assert_eq!(r[3]["match"], json!({"prefix": "/"}));
    assert_eq!(
        r[3]["route"]["cluster"],
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
    let r = routes(&cfg);
    assert_eq!(r[0]["route"]["prefix_rewrite"], "/kyc");
    assert_eq!(r[0]["route"]["host_rewrite_literal"], "kyc.internal");
    assert_eq!(r[0]["route"]["timeout"], "2.5s");
    assert_eq!(
        r[1]["route"]["timeout"], "0s",
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
    let r = routes(&cfg);
    let p = &r[0]["route"]["retry_policy"];
    assert_eq!(p["num_retries"], 3);
    assert_eq!(p["per_try_timeout"], "0.5s");
    assert_eq!(p["retry_on"], "5xx,reset,retriable-status-codes");
    assert_eq!(p["retriable_status_codes"], json!([503]));
    assert!(
        r[1]["route"].get("retry_policy").is_none(),
        "attempts 0 disables retries"
    );
    let d = &r[2]["route"]["retry_policy"];
    assert_eq!(d["num_retries"], 2);
    assert_eq!(d["retry_on"], ISTIO_DEFAULT_RETRY_ON);
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
    let r = routes(&cfg);
    let f = &r[0]["typed_per_filter_config"][FAULT_FILTER];
    assert_eq!(
        f["@type"],
        "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
    );
    assert_eq!(
        f["delay"],
        json!({"fixed_delay": "1s", "percentage": {"numerator": 1_000_000, "denominator": "MILLION"}})
    );
    assert_eq!(
        f["abort"],
        json!({"http_status": 503, "percentage": {"numerator": 125_000, "denominator": "MILLION"}})
    );
    assert!(r[1].get("typed_per_filter_config").is_none());
    // the listener carries the fault filter before the router
    let l = cfg.listener(("route_config", json!({})));
    let filters = &l["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"];
    assert_eq!(filters[0]["name"], FAULT_FILTER);
    assert_eq!(filters[1]["name"], "envoy.filters.http.router");
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
    let r = routes(&cfg);
    assert_eq!(
        r[0]["route"]["request_mirror_policies"],
        json!([{"cluster": ADVANCED, "runtime_fraction": {"default_value": {"numerator": 250_000, "denominator": "MILLION"}}, "trace_sampled": false}])
    );
    assert_eq!(
        r[1]["route"]["request_mirror_policies"][0]["runtime_fraction"]["default_value"]
            ["numerator"],
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
    let r = &routes(&cfg)[0];
    assert_eq!(
        r["request_headers_to_add"],
        json!([
            {"header": {"key": "x-a", "value": "1"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
            {"header": {"key": "x-b", "value": "2"}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
        ])
    );
    assert_eq!(r["request_headers_to_remove"], json!(["x-c"]));
    assert_eq!(r["response_headers_to_remove"], json!(["server"]));
    assert_eq!(
        r["response_headers_to_add"][0]["header"],
        json!({"key": "x-mesh", "value": "local"})
    );
    assert_eq!(
        r["route"]["weighted_clusters"]["clusters"][0]["response_headers_to_add"][0]["header"],
        json!({"key": "x-canary", "value": "basic"})
    );
}

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
    let base = parse_documents(BASE, Path::new("base.yaml")).expect("base");
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
    let cfg = translate(&objects, &Ports::default());
    assert_eq!(cfg.errors().count(), 0, "{:#?}", cfg.findings);
    let c = cluster(&cfg, ADVANCED);
    assert_eq!(
        c["circuit_breakers"]["thresholds"][0],
        json!({"max_connections": 1, "max_pending_requests": 2, "max_requests": 3, "max_retries": 5, "track_remaining": true})
    );
    assert_eq!(c["connect_timeout"], "1s");
    assert_eq!(c["lb_policy"], "ROUND_ROBIN");
    let opts = &c["typed_extension_protocol_options"]
        ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert_eq!(
        opts["common_http_protocol_options"],
        json!({"max_requests_per_connection": 4, "idle_timeout": "30s"})
    );
    assert_eq!(c["outlier_detection"]["consecutive_5xx"], 1);
    assert_eq!(c["outlier_detection"]["enforcing_consecutive_5xx"], 100);
    assert_eq!(c["outlier_detection"]["interval"], "1s");
    assert_eq!(c["outlier_detection"]["base_ejection_time"], "30s");
    assert_eq!(c["outlier_detection"]["max_ejection_percent"], 100);
    // without a connection pool Istio's defaults are "unlimited"
    let fresh = ok(&vs(
        "  - route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n",
    ));
    assert_eq!(
        cluster(&fresh, BASIC)["circuit_breakers"]["thresholds"][0]["max_connections"],
        u32::MAX
    );
    assert_eq!(cluster(&fresh, BASIC)["lb_policy"], "LEAST_REQUEST");
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
    let c = cluster(
        &cfg,
        "outbound|8080|v1|kyc-aggregator-mgt.default.svc.cluster.local",
    );
    assert_eq!(c["circuit_breakers"]["thresholds"][0]["max_connections"], 7);
}

#[test]
fn deployment_labels_decide_which_pods_a_subset_selects() {
    // A Deployment relabelled to version v9: subset v1 of basic then selects no pod.
    let cfg = cfg_of(&format!(
        "{}\n---\n{}",
        vs("  - route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kyc-credit-check-basic}\nspec:\n  template:\n    metadata:\n      labels: {app: kyc-credit-check-basic, version: v9}\n"
    ));
    let e: Vec<String> = cfg.errors().map(|f| f.to_string()).collect();
    assert!(e.iter().any(|m| m.contains("select no pods")), "{e:#?}");
}

#[test]
fn check_findings_for_broken_references() {
    let cfg = cfg_of(&vs(r#"
  - route:
    - {destination: {host: kyc-credit-check-nope}, weight: 50}
    - {destination: {host: kyc-credit-check-basic, subset: v7}, weight: 30}
    - {destination: {host: kyc-credit-check-basic, port: {number: 9090}}, weight: 10}
"#));
    let e: Vec<String> = cfg.errors().map(|f| f.to_string()).collect();
    assert!(
        e.iter().any(|m| m.contains("weights add up to 90")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("\"kyc-credit-check-nope\" does not match any Service")),
        "{e:#?}"
    );
    assert!(e.iter().any(|m| m.contains("subset \"v7\"")), "{e:#?}");
    assert!(e.iter().any(|m| m.contains("port 9090")), "{e:#?}");
    assert!(
        e.iter()
            .all(|m| m.contains("test.yaml: VirtualService \"cc\"")),
        "{e:#?}"
    );
}

#[test]
fn a_broken_reference_used_by_two_routes_is_reported_once() {
    let cfg = cfg_of(&vs(r#"
  - match: [{uri: {prefix: /a}}]
    route: [{destination: {host: kyc-credit-check-basic, subset: v7}}]
  - match: [{uri: {prefix: /b}}]
    route: [{destination: {host: kyc-credit-check-basic, subset: v7}}]
"#));
    let e: Vec<String> = cfg.errors().map(|f| f.to_string()).collect();
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains("subset \"v7\""), "{e:#?}");
}

#[test]
fn unknown_gateway_and_mesh_only_virtual_services() {
    let cfg = cfg_of(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [x]\n  gateways: [nope]\n  http:\n  - route: [{destination: {host: kyc-aggregator-mgt}}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec:\n  hosts: [kyc-aggregator-mgt]\n  http:\n  - route: [{destination: {host: kyc-aggregator-mgt}}]\n",
    );
    assert!(cfg
        .errors()
        .any(|f| f.message.contains("Gateway \"nope\" not found")));
    assert!(cfg
        .findings
        .iter()
        .any(|f| f.severity == Severity::Info && f.origin.contains("VirtualService \"b\"")));
    // a named host gets its own virtual host that also matches any local port
    assert_eq!(
        cfg.route_config["virtual_hosts"][0]["domains"],
        json!(["x", "x:*"])
    );
}

#[test]
fn tls_gateway_is_refused() {
    let cfg = cfg_of("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: tls}\nspec:\n  servers: [{port: {number: 80, name: https, protocol: HTTPS}, hosts: ['*']}]\n");
    assert!(cfg
        .errors()
        .any(|f| f.message.contains("only HTTP is translated")));
}

#[test]
fn static_bootstrap_has_listener_routes_and_clusters() {
    let cfg = ok(&vs(
        "  - route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n",
    ));
    let b = cfg.static_bootstrap(9901);
    assert_eq!(b["admin"]["address"]["socket_address"]["port_value"], 9901);
    let l = &b["static_resources"]["listeners"][0];
    assert_eq!(
        l["address"]["socket_address"],
        json!({"address": "127.0.0.1", "port_value": 8000})
    );
    let hcm = &l["filter_chains"][0]["filters"][0]["typed_config"];
    assert_eq!(hcm["route_config"]["name"], ROUTE_CONFIG_NAME);
    assert_eq!(b["static_resources"]["clusters"][0]["name"], BASIC);
}

#[test]
fn conflicting_destination_rules_and_foreign_gateway_selector() {
    let cfg = cfg_of(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: basic-again}\nspec:\n  host: kyc-credit-check-basic.default.svc.cluster.local\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: other}\nspec:\n  selector: {app: my-gateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n",
    );
    assert!(
        cfg.errors()
            .any(|f| f.message.contains("both configure host")),
        "{:#?}",
        cfg.findings
    );
    assert!(cfg
        .findings
        .iter()
        .any(|f| f.severity == Severity::Warning && f.message.contains("ingressgateway")));
}
