//! Ambient mode: networking/scenarios/ambient.yaml's waypoint and what it serves, which
//! workloads are ambient, and what `check` refuses by field path (a waypoint the local mesh
//! cannot serve, a Service parent without a waypoint, a `use-waypoint` naming nothing).

use super::*;
use crate::ambient;
use crate::topology::Topology;

fn networking() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking")
}

fn with_scenario() -> Vec<Loaded> {
    crate::istio::load(
        &networking(),
        Some(&networking().join("scenarios/ambient.yaml")),
    )
    .expect("networking/ with the ambient scenario loads")
}

#[test]
fn the_scenario_has_one_waypoint_splitting_the_report_route_50_50_and_defaulting_to_basic() {
    let objects = with_scenario();
    let t = translate(&objects, &Ports::default());
    let errors: Vec<String> = t.findings.errors().map(|f| f.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let [w] = t.waypoints.as_slice() else {
        panic!("one waypoint: {:?}", t.waypoints);
    };
    assert_eq!(
        (w.name.as_str(), w.namespace.as_str()),
        ("waypoint", "default")
    );
    assert_eq!(
        w.identity.uri(),
        "spiffe://cluster.local/ns/default/sa/waypoint"
    );
    let [s] = w.services.as_slice() else {
        panic!("one Service: {:?}", w.services);
    };
    assert_eq!(s.fqdn(), "kyc-credit-check-basic.default.svc.cluster.local");
    assert_eq!(s.port, 8080);
    assert_eq!(
        s.vip_name(),
        "inbound-vip|8080|http|kyc-credit-check-basic.default.svc.cluster.local"
    );
    let report = &s.routes[0];
    assert_eq!(
        report.matcher,
        RouteMatch {
            path: PathMatch::PathSeparatedPrefix("/credit-check/report".into()),
            ..prefix("/")
        }
    );
    let split: Vec<(String, u32)> = weighted(report)
        .iter()
        .map(|c| (c.name.to_string(), c.weight.0))
        .collect();
    assert_eq!(
        split,
        [
            (
                "outbound|8080||kyc-credit-check-basic.default.svc.cluster.local".to_string(),
                50
            ),
            (
                "outbound|8080||kyc-credit-check-advanced.default.svc.cluster.local".to_string(),
                50
            )
        ]
    );
    // The rest of the Service's traffic stays with basic.
    assert_eq!(
        single(&s.routes[1]),
        "outbound|8080||kyc-credit-check-basic.default.svc.cluster.local"
    );
    assert_eq!(w.clusters.len(), 2, "{:?}", w.clusters.keys());
    // Plain clusters: the tunnel, not a sidecar's mTLS, secures them.
    assert!(w.clusters.values().all(|c| c.transport_socket.is_none()));
}

#[test]
fn the_namespace_label_makes_every_workload_ambient_unless_opted_out_or_injected() {
    let objects = with_scenario();
    let topology = Topology::local(&Ports::default(), &objects);
    let injected = crate::injection::injected_workloads(&objects, &topology);
    assert!(
        injected.is_empty(),
        "the scenario's namespace has no istio-injection label"
    );
    let all = ambient::ambient_workloads(&objects, &topology, &injected);
    assert_eq!(all.len(), 3, "{all:?}");
    let one_injected = ["kyc-aggregator-mgt"].into_iter().collect();
    let rest = ambient::ambient_workloads(&objects, &topology, &one_injected);
    assert!(!rest.contains("kyc-aggregator-mgt") && rest.len() == 2);
    // networking/ alone: sidecars, nothing ambient.
    let plain = crate::istio::load(&networking(), None).expect("loads");
    let topology = Topology::local(&Ports::default(), &plain);
    let injected = crate::injection::injected_workloads(&plain, &topology);
    assert!(ambient::ambient_workloads(&plain, &topology, &injected).is_empty());
}

const WAYPOINT: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
"#;

/// The base objects with basic's Service labelled `istio.io/use-waypoint: <waypoint>`, and
/// `extra`.
fn with_basic_using(waypoint: &str, extra: &str) -> Out {
    let base = base().replace(
        &service("kyc-credit-check-basic"),
        &service_with_waypoint("kyc-credit-check-basic", waypoint),
    );
    let text = format!("{base}\n---\n{extra}");
    let objects = parse_documents(&text, Path::new("test.yaml")).expect("parses");
    translate_objects(&objects)
}

fn service_with_waypoint(name: &str, waypoint: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, labels: {{istio.io/use-waypoint: {waypoint}}}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: 8080}}]\n"
    )
}

const CANARY: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary}
spec:
  parentRefs: [{group: "", kind: Service, name: kyc-credit-check-basic, port: 8080}]
  rules:
  - backendRefs: [{name: kyc-credit-check-basic, port: 8080, weight: 90}, {name: kyc-credit-check-advanced, port: 8080, weight: 10}]
"#;

#[test]
fn a_service_parent_is_served_by_its_waypoint_and_refused_without_one() {
    let good = with_basic_using("waypoint", &format!("{WAYPOINT}---\n{CANARY}"));
    assert!(good.error_texts().is_empty(), "{:#?}", good.error_texts());
    let out = cfg_of(CANARY);
    let e = out.error_texts();
    assert!(
        e.iter().any(|m| m.contains("HTTPRoute \"canary\"] spec.parentRefs[0]: Service kyc-credit-check-basic has no waypoint")),
        "{e:#?}"
    );
    let out = with_basic_using(
        "nowhere",
        &CANARY.replace(
            "port: 8080}]\n  rules",
            "port: 9090, sectionName: x}]\n  rules",
        ),
    );
    let e = out.error_texts();
    for want in [
        "Service \"kyc-credit-check-basic\"] metadata.labels[\"istio.io/use-waypoint\"]: no Gateway \"default/nowhere\" of class istio-waypoint",
        "spec.parentRefs[0].sectionName: not translated for a Service parent",
        "spec.parentRefs[0].port 9090 is not a port of Service kyc-credit-check-basic",
        "spec.parentRefs[0]: Service kyc-credit-check-basic uses waypoint \"default/nowhere\", which is not a Gateway of class istio-waypoint",
    ] {
        assert!(e.iter().any(|m| m.contains(want)), "{want}: {e:#?}");
    }
}

#[test]
fn a_waypoint_the_local_mesh_cannot_serve_is_refused_by_field() {
    let bad = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, labels: {istio.io/waypoint-for: workload}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}, {name: http, port: 80, protocol: HTTP, hostname: x.example}]
"#;
    let e = cfg_of(bad).error_texts();
    for want in [
        "metadata.labels[\"istio.io/waypoint-for\"] \"workload\": the local waypoint serves Services only",
        "spec.listeners: a waypoint has one listener (HBONE on 15008), not 2",
        "spec.listeners[1]: HTTP on 80: a waypoint listens for HBONE on 15008",
        "spec.listeners[1].hostname: not translated for a waypoint",
    ] {
        assert!(e.iter().any(|m| m.contains(want)), "{want}: {e:#?}");
    }
    assert_eq!(e.len(), 4, "{e:#?}");
}

/// networking/ with the ambient scenario and `extra`.
fn scenario_and(extra: &str) -> Translation {
    let mut objects = with_scenario();
    objects.extend(parse_documents(extra, Path::new("extra.yaml")).expect("parses"));
    translate(&objects, &Ports::default())
}

#[test]
fn authorization_policies_of_ambient_workloads_become_the_node_proxys_l4_policies() {
    let t = scenario_and(
        r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-waypoint-to-advanced}
spec:
  selector: {matchLabels: {app: kyc-credit-check-advanced}}
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/waypoint]}}]
    to: [{operation: {ports: ["8080"]}}]
"#,
    );
    let errors: Vec<String> = t.findings.errors().map(|f| f.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(
        t.node_policies.keys().copied().collect::<Vec<_>>(),
        ["kyc-credit-check-advanced"]
    );
    let [p] = t.node_policies["kyc-credit-check-advanced"].as_slice() else {
        panic!("one policy");
    };
    assert_eq!(p.name, "default/no-waypoint-to-advanced");
    assert_eq!(p.action, kyc_node_proxy::authz::Action::Deny);
    assert_eq!(
        p.rules[0].from[0].source.principals.as_deref(),
        Some(&["cluster.local/ns/default/sa/waypoint".to_string()][..])
    );
    assert_eq!(
        p.rules[0].to[0].operation.ports.as_deref(),
        Some(&["8080".to_string()][..])
    );
}

#[test]
fn an_l7_attribute_on_an_ambient_workloads_policy_is_refused_by_path() {
    let t = scenario_and(
        r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l7}
spec:
  selector: {matchLabels: {app: kyc-credit-check-basic}}
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
    to: [{operation: {paths: [/credit-check/*], methods: [GET]}}]
    when: [{key: "request.auth.claims[scope]", values: [x]}]
"#,
    );
    let e: Vec<String> = t.findings.errors().map(|f| f.to_string()).collect();
    for want in [
        "spec.rules[0].when: an L7 attribute",
        "spec.rules[0].from[0].source.requestPrincipals: an L7 attribute",
        "spec.rules[0].to[0].operation.methods: an L7 attribute",
        "spec.rules[0].to[0].operation.paths: an L7 attribute",
    ] {
        assert!(e.iter().any(|m| m.contains(want)), "{want}: {e:#?}");
    }
    assert!(t.node_policies.is_empty());
}

#[test]
fn a_policy_attached_to_the_service_becomes_the_waypoints_rbac_on_the_peer_in_filter_state() {
    let t = scenario_and(
        r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reports}
spec:
  targetRefs: [{kind: Service, group: "", name: kyc-credit-check-basic}]
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/kyc-aggregator-mgt]}}]
    to: [{operation: {paths: [/credit-check/report], methods: [POST]}}]
"#,
    );
    let errors: Vec<String> = t.findings.errors().map(|f| f.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let s = &t.waypoints[0].services[0];
    assert!(s.rbac_allow.is_none());
    let deny = serde_json::to_value(s.rbac_deny.as_ref().expect("a DENY filter")).expect("json");
    let policy = &deny["rules"]["policies"]["ns[default]-policy[reports]-rule[0]"];
    assert_eq!(deny["rules"]["action"], "DENY");
    assert_eq!(
        policy["principals"][0]["filter_state"]["key"],
        crate::translate::PEER_PRINCIPAL
    );
    assert_eq!(
        policy["principals"][0]["filter_state"]["string_match"]["exact"],
        "spiffe://cluster.local/ns/default/sa/kyc-aggregator-mgt"
    );
    let text = policy["permissions"].to_string();
    assert!(
        text.contains("/credit-check/report") && text.contains("POST"),
        "{text}"
    );
    // A targetRefs policy is the waypoint's: no sidecar, no node proxy policy for it.
    assert!(t.node_policies.is_empty());
}

#[test]
fn what_the_local_waypoint_cannot_enforce_is_refused_by_field() {
    let t = scenario_and(
        r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: kyc-credit-check-basic}}
  targetRefs:
  - {kind: Service, group: "", name: kyc-credit-check-advanced}
  - {kind: Gateway, group: gateway.networking.k8s.io, name: kyc-gateway}
  - {kind: ServiceEntry, group: networking.istio.io, name: x}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l7-at-waypoint}
spec:
  targetRefs: [{kind: Service, group: "", name: kyc-credit-check-basic}]
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
    to: [{operation: {ports: ["8080"]}}]
    when: [{key: "request.headers[x]", values: [y]}]
"#,
    );
    let e: Vec<String> = t.findings.errors().map(|f| f.to_string()).collect();
    for want in [
        "spec.selector and spec.targetRefs: a policy has one or the other",
        "spec.targetRefs[0]: Service kyc-credit-check-advanced has no waypoint",
        "spec.targetRefs[1]: no waypoint Gateway \"default/kyc-gateway\"",
        "spec.targetRefs[2]: group \"networking.istio.io\" kind \"ServiceEntry\"",
        "spec.rules[0].when: not translated at the local waypoint",
        "spec.rules[0].from[0].source.requestPrincipals: not translated at the local waypoint",
        "spec.rules[0].to[0].operation.ports: at the waypoint the port is the Service's",
    ] {
        assert!(e.iter().any(|m| m.contains(want)), "{want}: {e:#?}");
    }
}

#[test]
fn the_waypoints_identity_is_a_known_principal() {
    let t = scenario_and(
        r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: from-the-waypoint}
spec:
  selector: {matchLabels: {app: kyc-credit-check-advanced}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/waypoint]}}]
"#,
    );
    let unknown: Vec<String> = t
        .findings
        .0
        .iter()
        .map(|f| f.to_string())
        .filter(|f| f.contains("is no identity of the mesh"))
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");
}
