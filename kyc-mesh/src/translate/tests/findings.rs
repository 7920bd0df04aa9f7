//! What `check` reports while translating: broken references, weights, gateways, rules.

use super::*;
use crate::analyze::Severity;

#[test]
fn deployment_labels_decide_which_pods_a_subset_selects() {
    // A Deployment relabelled to version v9: subset v1 of basic then selects no pod.
    let cfg = cfg_of(&format!(
        "{}\n---\n{}",
        vs("  - route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kyc-credit-check-basic}\nspec:\n  template:\n    metadata:\n      labels: {app: kyc-credit-check-basic, version: v9}\n"
    ));
    let e = cfg.error_texts();
    assert!(e.iter().any(|m| m.contains("select no pods")), "{e:#?}");
    assert!(e.iter().any(|m| m.contains("IST0173")), "{e:#?}");
}

#[test]
fn check_findings_for_broken_references() {
    let cfg = cfg_of(&vs(r#"
  - route:
    - {destination: {host: kyc-credit-check-nope}, weight: 50}
    - {destination: {host: kyc-credit-check-basic, subset: v7}, weight: 30}
    - {destination: {host: kyc-credit-check-basic, port: {number: 9090}}, weight: 10}
"#));
    let e = cfg.error_texts();
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
    let mut codes: Vec<_> = cfg.errors().filter_map(|f| f.code.map(Code::id)).collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        ["IST0101", "IST0101", "IST0101", "KYC0001"],
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
    let e = cfg.error_texts();
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
        .any(|f| f.message.contains("Gateway \"nope\" not found")
            && f.to_string().contains("IST0101")));
    assert!(cfg
        .findings
        .0
        .iter()
        .any(|f| f.severity == Severity::Info && f.origin.contains("VirtualService \"b\"")));
    // a named host gets its own virtual host that also matches any local port
    assert_eq!(
        cfg.proxy.listeners[0].routes.virtual_hosts[0].domains,
        ["x", "x:*"]
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
        .0
        .iter()
        .any(|f| f.severity == Severity::Warning && f.message.contains("ingressgateway")));
}

#[test]
fn destination_rule_for_an_unknown_host_is_ist0174() {
    let cfg = cfg_of("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: typo}\nspec:\n  host: kyc-credit-check-basics\n");
    let e = cfg.error_texts();
    assert!(
        e.iter().any(
            |m| m.contains("\"kyc-credit-check-basics\" does not match any Service")
                && m.contains("IST0174")
        ),
        "{e:#?}"
    );
}

#[test]
fn weights_whose_sum_overflows_are_an_error_not_a_panic() {
    let cfg = cfg_of(&vs(r#"
  - route:
    - {destination: {host: kyc-credit-check-basic, subset: v1}, weight: 4000000000}
    - {destination: {host: kyc-credit-check-advanced, subset: v2}, weight: 4000000000}
"#));
    let e = cfg.error_texts();
    assert!(
        e.iter().any(|m| m.contains("weights add up to 4294967295")),
        "{e:#?}"
    );
}
