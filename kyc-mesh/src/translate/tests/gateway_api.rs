//! Gateway API Gateway + HTTPRoute → the same typed routes and clusters as a
//! VirtualService: attachment, hosts, precedence, matches, filters, weights, timeouts, and
//! what `check` reports (IST0101 for a missing parent Gateway or backend Service).

use super::*;
use crate::analyze::{Code, Severity};
use crate::envoy::route::{AppendAction, HeaderMatcher, StringMatcher};

const GATEWAY: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
"#;

fn route(spec: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r}}\nspec:\n{spec}"
    )
}

/// The base objects, the Gateway API gateway and `extra`, without the Istio VirtualServices.
fn api(extra: &str) -> Out {
    cfg_of(&format!("{GATEWAY}---\n{extra}"))
}

fn api_ok(extra: &str) -> Out {
    let out = api(extra);
    let errors = out.error_texts();
    assert!(errors.is_empty(), "unexpected findings: {errors:#?}");
    out
}

/// Service-level clusters: Gateway API backends name Services, not subsets.
fn svc(name: &str) -> String {
    format!("outbound|8080||{name}.default.svc.cluster.local")
}

fn separated(p: &str) -> RouteMatch {
    RouteMatch {
        path: PathMatch::PathSeparatedPrefix(p.into()),
        ..prefix("/")
    }
}

#[test]
fn the_scenario_file_translates_to_a_relative_split_on_service_clusters() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking/scenarios/gateway-api.yaml"),
    )
    .expect("scenario");
    let out = ok(&text);
    let routes = out.routes();
    let report = routes
        .iter()
        .find(|r| r.matcher == separated("/credit-check/report"))
        .expect("report route");
    assert_eq!(report.name, "default.kyc-credit-check.2");
    let w: Vec<(String, u32)> = weighted(report)
        .iter()
        .map(|c| (c.name.to_string(), c.weight.0))
        .collect();
    assert_eq!(
        w,
        [
            (svc("kyc-credit-check-basic"), 50),
            (svc("kyc-credit-check-advanced"), 50)
        ]
    );
    assert_eq!(
        report.route.timeout,
        Some(Duration::parse_istio("2s").unwrap())
    );
    // Istio's default retries apply, as for a VirtualService without `retries`.
    assert_eq!(
        report.route.retry_policy.as_ref().map(|p| p.num_retries),
        Some(2)
    );
    // Both /kyc prefixes of the one rule become routes to the aggregator's Service.
    let kyc: Vec<&Route> = routes
        .iter()
        .filter(|r| r.name == "default.kyc.0")
        .collect();
    assert_eq!(kyc.len(), 2);
    assert!(kyc.iter().all(|r| single(r) == svc("kyc-aggregator-mgt")));
    // The Service-level cluster selects the Service's pods, like a host without subset.
    let c = out.cluster(&svc("kyc-credit-check-advanced"));
    assert_eq!(c.name.to_string(), svc("kyc-credit-check-advanced"));
}

#[test]
fn httproutes_come_before_virtual_services_on_a_shared_host() {
    let text = format!(
        "{}---\n{}",
        vs("  - match: [{uri: {prefix: /credit-check/report}}]\n    route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n"),
        route("  parentRefs: [{name: gw}]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /credit-check/report}}]\n    backendRefs: [{name: kyc-credit-check-advanced, port: 8080}]\n")
    );
    let out = api_ok(&text);
    let names: Vec<&str> = out.routes().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["default.r.0", "cc.0"]);
    assert_eq!(single(&out.routes()[0]), svc("kyc-credit-check-advanced"));
    let infos: Vec<String> = out
        .findings
        .0
        .iter()
        .filter(|f| f.severity == Severity::Info)
        .map(|f| f.message.clone())
        .collect();
    assert!(
        infos.iter().any(|m| m.contains("matched first")),
        "{infos:#?}"
    );
}

#[test]
fn precedence_exact_then_longest_prefix_then_method_headers_query() {
    let out = api_ok(&route(
        r#"  parentRefs: [{name: gw}]
  rules:
  - name: short
    matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - name: query
    matches: [{path: {value: /a/b}, queryParams: [{name: q, value: "1"}]}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - name: headers
    matches: [{path: {value: /a/b}, headers: [{name: X-T, value: v}, {name: x-t, value: ignored}]}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - name: method
    matches: [{path: {value: /a/b}, method: GET}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - name: long
    matches: [{path: {value: /a/b/c/}}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - name: exact
    matches: [{path: {type: Exact, value: /a}}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - name: any
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
"#,
    ));
    let names: Vec<&str> = out.routes().iter().map(|r| r.name.as_str()).collect();
    let want = [
        "exact", "long", "method", "headers", "query", "short", "any",
    ];
    assert_eq!(names, want.map(|n| format!("default.r.{n}")));
    let r = out.routes();
    assert_eq!(r[0].matcher.path, PathMatch::Path("/a".into()));
    // "/a/b/c/" means "/a/b/c" (segments), and no path at all is the prefix "/".
    assert_eq!(
        r[1].matcher.path,
        PathMatch::PathSeparatedPrefix("/a/b/c".into())
    );
    assert_eq!(r[6].matcher.path, PathMatch::Prefix("/".into()));
    assert_eq!(
        r[2].matcher.headers,
        [HeaderMatcher {
            name: ":method".into(),
            string_match: StringMatcher::Exact("GET".into()),
            invert_match: false
        }]
    );
    // Of two entries for one header name (case-insensitive) only the first counts.
    assert_eq!(r[3].matcher.headers.len(), 1);
    assert_eq!(r[3].matcher.headers[0].name, "x-t");
    assert_eq!(
        r[3].matcher.headers[0].string_match,
        StringMatcher::Exact("v".into())
    );
    assert_eq!(r[4].matcher.query_parameters[0].name, "q");
}

#[test]
fn filters_become_header_mutations_and_rewrites() {
    let out = api_ok(&route(
        r#"  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {value: /old}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: X-Set, value: s}], add: [{name: x-add, value: a}], remove: [X-Gone]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-resp, value: r}]}
    - type: URLRewrite
      urlRewrite: {hostname: scorer.local, path: {type: ReplacePrefixMatch, replacePrefixMatch: /credit-check}}
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
"#,
    ));
    let r = &out.routes()[0];
    let req: Vec<(&str, AppendAction)> = r
        .headers
        .request_headers_to_add
        .iter()
        .map(|h| (h.header.key.as_str(), h.append_action))
        .collect();
    assert_eq!(
        req,
        [
            ("x-set", AppendAction::OverwriteIfExistsOrAdd),
            ("x-add", AppendAction::AppendIfExistsOrAdd)
        ]
    );
    assert_eq!(r.headers.request_headers_to_remove, ["x-gone"]);
    assert_eq!(r.headers.response_headers_to_add[0].header.key, "x-resp");
    assert_eq!(r.route.prefix_rewrite.as_deref(), Some("/credit-check"));
    assert_eq!(
        r.route.host_rewrite_literal.as_deref(),
        Some("scorer.local")
    );
}

#[test]
fn weights_are_relative_default_one_and_zero_drops_a_backend() {
    let out = api_ok(&route(
        r#"  parentRefs: [{name: gw}]
  rules:
  - backendRefs:
    - {name: kyc-credit-check-basic, port: 8080, weight: 3}
    - {name: kyc-credit-check-advanced, port: 8080}
    - {name: kyc-aggregator-mgt, port: 8080, weight: 0}
"#,
    ));
    let w: Vec<u32> = weighted(&out.routes()[0])
        .iter()
        .map(|c| c.weight.0)
        .collect();
    assert_eq!(w, [3, 1], "relative weights, weight 0 gets no traffic");
    // No `timeouts`: Istio's 0s (no timeout), as for a VirtualService.
    assert_eq!(out.routes()[0].route.timeout, Some(Duration::ZERO));
}

#[test]
fn listener_hostname_intersects_route_hostnames() {
    let gw = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: "*.bank.test"}]
"#;
    let text = format!(
        "{gw}---\n{}",
        route("  parentRefs: [{name: gw, sectionName: http, port: 80}]\n  hostnames: [kyc.bank.test, other.example]\n  rules: [{backendRefs: [{name: kyc-credit-check-basic, port: 8080}]}]\n")
    );
    let out = ok(&text);
    let hosts: Vec<&Vec<String>> = out.proxy.listeners[0]
        .routes
        .virtual_hosts
        .iter()
        .map(|v| &v.domains)
        .collect();
    assert_eq!(
        hosts,
        [&vec!["kyc.bank.test".to_string(), "kyc.bank.test:*".into()]]
    );
}

#[test]
fn check_reports_ist0101_for_a_missing_gateway_and_service() {
    let out = api(&route(
        r#"  parentRefs: [{name: gw}, {name: nowhere}]
  rules:
  - backendRefs: [{name: kyc-credit-check-nope, port: 8080}]
  - backendRefs: [{name: kyc-credit-check-basic, port: 9090}]
"#,
    ));
    let e = out.error_texts();
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].contains("spec.parentRefs[1]: Gateway \"default/nowhere\" not found"),
        "{e:#?}"
    );
    assert!(
        e[1].contains(
            "spec.rules[0].backendRefs[0]: Service \"default/kyc-credit-check-nope\" not found"
        ),
        "{e:#?}"
    );
    assert!(
        e[2].contains("spec.rules[1].backendRefs[0].port 9090"),
        "{e:#?}"
    );
    assert!(
        e.iter().all(|m| m.contains("test.yaml: HTTPRoute \"r\"")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .all(|m| m.ends_with("(IST0101 ReferencedResourceNotFound)")),
        "{e:#?}"
    );
    let codes: Vec<_> = out.errors().filter_map(|f| f.code).collect();
    assert_eq!(codes, [Code::ReferencedResourceNotFound; 3]);
}

#[test]
fn routes_no_listener_accepts_are_errors() {
    let ns_route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: other, namespace: team}\nspec:\n  parentRefs: [{name: gw, namespace: default}]\n  rules: [{backendRefs: [{name: kyc-credit-check-basic, port: 8080}]}]\n";
    let out = api(&format!(
        "{}---\n{ns_route}",
        route("  parentRefs: [{name: gw, sectionName: https}, {name: gw, port: 8443}]\n  rules: [{backendRefs: [{name: kyc-credit-check-basic, port: 8080}]}]\n")
    ));
    let e = out.error_texts();
    assert!(
        e.iter()
            .any(|m| m.contains("HTTPRoute \"r\"] spec.parentRefs[0]: no listener")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("HTTPRoute \"r\"] spec.parentRefs[1]: no listener")),
        "{e:#?}"
    );
    // allowedRoutes defaults to the Gateway's namespace: a route from "team" is not accepted.
    assert!(
        e.iter()
            .any(|m| m.contains("HTTPRoute \"other\"] spec.parentRefs[0]: no listener")),
        "{e:#?}"
    );
}

#[test]
fn gateway_class_protocol_and_untranslatable_values_are_errors() {
    let gw = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: other-class}
spec:
  gatewayClassName: cilium
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: tls}
spec:
  gatewayClassName: istio
  listeners: [{name: https, port: 80, protocol: HTTPS}]
"#;
    let out = api(&format!(
        "{gw}---\n{}",
        route(
            r#"  parentRefs: [{name: gw}, {kind: Service, group: "", name: kyc-credit-check-basic}]
  rules:
  - backendRefs: [{name: kyc-credit-check-basic, port: 8080, weight: 0}]
  - backendRefs: [{name: kyc-credit-check-basic}]
  - backendRefs: [{name: kyc-credit-check-basic, port: 8080, namespace: other}]
  - backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
    timeouts: {request: 2 seconds}
  - matches: [{path: {type: Exact, value: relative}}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - matches: [{path: {type: Exact, value: /x}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /y}}}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - backendRefs: []
  - backendRefs: [{name: kyc-credit-check-basic, port: 8080, weight: 4000000000}, {name: kyc-credit-check-advanced, port: 8080, weight: 4000000000}]
"#,
        )
    ));
    let e = out.error_texts();
    let expect = [
        "spec.gatewayClassName \"cilium\"",
        "spec.listeners[0].protocol \"HTTPS\"",
        "spec.parentRefs[1]: Service kyc-credit-check-basic has no waypoint",
        "spec.rules[0].backendRefs: every weight is 0",
        "spec.rules[1].backendRefs[0].port: required",
        "spec.rules[2].backendRefs[0].namespace: a backend in another namespace needs a ReferenceGrant",
        "spec.rules[3].timeouts.request: \"2 seconds\" is not a Gateway API duration",
        "spec.rules[4].matches[0].path.value \"relative\"",
        "spec.rules[5].filters[0].urlRewrite.path: ReplacePrefixMatch needs every match",
        "spec.rules[6].backendRefs: a rule needs at least one backendRef",
        "spec.rules[7].backendRefs[0].weight 4000000000: at most 1000000",
    ];
    for want in expect {
        assert!(e.iter().any(|m| m.contains(want)), "{want}: {e:#?}");
    }
    assert_eq!(e.len(), expect.len(), "{e:#?}");
}

#[test]
fn only_a_gateway_api_gateway_is_enough_for_the_ingress() {
    // networking/ without Istio's Gateway: the Gateway API one alone is served.
    let services = crate::topology::BINARIES.map(service).join("---\n");
    let text = format!(
        "{services}---\n{GATEWAY}---\n{}",
        route("  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{name: kyc-credit-check-basic, port: 8080}]}]\n")
    );
    let objects = parse_documents(&text, Path::new("t.yaml")).expect("parses");
    let out = translate_objects(&objects);
    assert!(out.error_texts().is_empty(), "{:#?}", out.error_texts());
    assert_eq!(single(&out.routes()[0]), svc("kyc-credit-check-basic"));
}

#[test]
fn a_second_gateway_port_is_an_error_whichever_kind_declares_it() {
    let api_8080 = GATEWAY.replace("port: 80,", "port: 8080,");
    // Istio's Gateway (80, in the base objects) and a Gateway API listener on 8080.
    let out = cfg_of(&api_8080);
    let e = out.error_texts();
    assert!(
        e.iter().any(|m| m.contains("gateway ports {80, 8080}")),
        "{e:#?}"
    );
    // Only Gateway API Gateways, on two ports.
    let services = crate::topology::BINARIES.map(service).join("---\n");
    let text = format!(
        "{services}---\n{GATEWAY}---\n{}",
        api_8080.replace("name: gw}", "name: gw2}")
    );
    let objects = parse_documents(&text, Path::new("t.yaml")).expect("parses");
    let e = translate_objects(&objects).error_texts();
    assert!(
        e.iter().any(|m| m.contains("gateway ports {80, 8080}")),
        "{e:#?}"
    );
}
