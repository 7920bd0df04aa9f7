//! Sidecars: YAML in → each injected workload's inbound/outbound listeners, mTLS and RBAC out.

use super::*;
use crate::envoy::listener::{InboundMtls, RBAC_ALLOW_FILTER, RBAC_DENY_FILTER};
use crate::envoy::rbac::RbacPerRoute;
use crate::envoy::route::PerFilterConfig;
use crate::topology::{SidecarPlan, SidecarPorts};

/// Every workload injected, sidecar ports 9000 + i.
fn plan() -> SidecarPlan {
    let sidecars = crate::topology::BINARIES
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let i = i as u16;
            (
                *b,
                SidecarPorts {
                    outbound: 9000 + i,
                    admin: 9100 + i,
                },
            )
        })
        .collect();
    SidecarPlan {
        sidecars,
        certs: "/certs".into(),
        edge_only: false,
    }
}

fn mesh(extra: &str) -> Translation {
    mesh_text(&format!("{}\n---\n{extra}", base()))
}

fn mesh_text(text: &str) -> Translation {
    let objects = parse_documents(text, Path::new("test.yaml")).expect("parses");
    translate_mesh(&objects, &Ports::default(), &plan())
}

fn sidecar<'a>(t: &'a Translation, name: &'static str) -> &'a ProxyConfig {
    t.proxy(ProxyId::Sidecar(name)).expect("a sidecar")
}

fn basic_sidecar(t: &Translation) -> &ProxyConfig {
    sidecar(t, "kyc-credit-check-basic")
}

/// The per-route RBAC of a sidecar's inbound default route.
fn rbac(p: &ProxyConfig, filter: &str) -> Option<RbacPerRoute> {
    let route = p.listeners[0].routes.virtual_hosts[0]
        .routes
        .iter()
        .find(|r| r.name == "default")?;
    match route.typed_per_filter_config.get(filter)? {
        PerFilterConfig::Rbac(a) => Some(a.value.clone()),
        PerFilterConfig::Fault(_) => None,
    }
}

const STRICT_NS: &str = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default}\nspec: {mtls: {mode: STRICT}}\n";

#[test]
fn each_injected_workload_gets_inbound_and_outbound_named_as_istiod_names_them() {
    let t = mesh("");
    assert!(t.findings.errors().next().is_none(), "{:?}", t.findings);
    let p = basic_sidecar(&t);
    let (inbound, outbound) = (&p.listeners[0], &p.listeners[1]);
    assert_eq!(inbound.listener.name().to_string(), "virtualInbound");
    assert_eq!(inbound.listener.local_port, 8081, "the contract port");
    assert_eq!(inbound.routes.name.to_string(), "inbound|8080||");
    assert_eq!(outbound.listener.local_port, 9001);
    assert_eq!(outbound.routes.name.to_string(), "8080");
    let names: Vec<String> = p.clusters.keys().map(|c| c.to_string()).collect();
    assert!(names.contains(&"inbound|8080||".to_string()), "{names:?}");
    assert!(
        names.contains(&"outbound|80||istio-ingressgateway.istio-system.svc.cluster.local".into()),
        "{names:?}"
    );
    assert!(names
        .contains(&"outbound|8080||kyc-credit-check-advanced.default.svc.cluster.local".into()));
    // The outbound knows the short name, the namespaced name and the FQDN.
    let vh = outbound
        .routes
        .virtual_hosts
        .iter()
        .find(|v| v.name == "kyc-credit-check-advanced.default.svc.cluster.local:8080")
        .expect("virtual host");
    for d in [
        "kyc-credit-check-advanced",
        "kyc-credit-check-advanced:8080",
        "kyc-credit-check-advanced.default",
    ] {
        assert!(vh.domains.iter().any(|x| x == d), "{d} in {:?}", vh.domains);
    }
    assert_eq!(
        p.identity.as_ref().map(|i| i.spiffe.uri().to_string()),
        Some("spiffe://cluster.local/ns/default/sa/kyc-credit-check-basic".into())
    );
}

#[test]
fn auto_mtls_to_sidecars_and_destination_rule_tls_disable() {
    let route = vs("  - route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n");
    let t = mesh(&route);
    let gw = t.proxy(ProxyId::IngressGateway).expect("gateway");
    let c = gw
        .clusters
        .values()
        .find(|c| c.name.to_string() == BASIC)
        .expect("basic cluster");
    let tls = c.transport_socket.as_ref().expect("auto mTLS");
    let json = serde_json::to_string(tls).expect("json");
    assert!(
        json.contains("spiffe://cluster.local/ns/default/sa/kyc-credit-check-basic"),
        "{json}"
    );
    assert!(
        json.contains("outbound_.8080_.v1_.kyc-credit-check-basic"),
        "{json}"
    );
    // The base's DestinationRule of basic, with a tls mode.
    let with_tls = |mode: &str| {
        let rule = "  host: kyc-credit-check-basic\n";
        let text = format!("{}\n---\n{route}", base()).replace(
            rule,
            &format!("{rule}  trafficPolicy: {{tls: {{mode: {mode}}}}}\n"),
        );
        mesh_text(&text)
    };
    let disabled = with_tls("DISABLE");
    let gw = disabled.proxy(ProxyId::IngressGateway).expect("gateway");
    let c = gw
        .clusters
        .values()
        .find(|c| c.name.to_string() == BASIC)
        .expect("basic");
    assert!(c.transport_socket.is_none(), "DISABLE: plaintext");
    let simple = with_tls("SIMPLE");
    let errors: Vec<String> = simple.findings.errors().map(|f| f.to_string()).collect();
    assert!(errors.iter().any(|e| e.contains("SIMPLE")), "{errors:?}");
}

#[test]
fn peer_authentication_workload_over_namespace_over_mesh_and_port_level() {
    let mode = |extra: &str| basic_sidecar(&mesh(extra)).listeners[0].listener.mtls;
    assert_eq!(mode(""), Some(InboundMtls::Permissive), "Istio's default");
    assert_eq!(mode(STRICT_NS), Some(InboundMtls::Strict));
    let mesh_wide = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n";
    assert_eq!(mode(mesh_wide), Some(InboundMtls::Strict));
    let other_ns = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: other}\nspec: {mtls: {mode: STRICT}}\n";
    assert_eq!(mode(other_ns), Some(InboundMtls::Permissive));
    let workload_disable = format!("{STRICT_NS}---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: basic}}\nspec:\n  selector: {{matchLabels: {{app: kyc-credit-check-basic}}}}\n  mtls: {{mode: DISABLE}}\n");
    assert_eq!(mode(&workload_disable), Some(InboundMtls::Disable));
    let t = mesh(&workload_disable);
    assert_eq!(
        sidecar(&t, "kyc-credit-check-advanced").listeners[0]
            .listener
            .mtls,
        Some(InboundMtls::Strict),
        "the selector picks basic only"
    );
    let port_level = format!("{STRICT_NS}---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: basic}}\nspec:\n  selector: {{matchLabels: {{app: kyc-credit-check-basic}}}}\n  mtls: {{mode: UNSET}}\n  portLevelMtls: {{8080: {{mode: PERMISSIVE}}}}\n");
    assert_eq!(mode(&port_level), Some(InboundMtls::Permissive));
    let unset = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: basic}\nspec:\n  selector: {matchLabels: {app: kyc-credit-check-basic}}\n  mtls: {mode: UNSET}\n";
    assert_eq!(
        mode(&format!("{STRICT_NS}---\n{unset}")),
        Some(InboundMtls::Strict),
        "UNSET inherits"
    );
}

#[test]
fn authorization_policy_becomes_rbac_deny_before_allow() {
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking/scenarios/mtls-strict.yaml"),
    )
    .expect("scenario");
    let t = mesh(&scenario);
    assert!(t.findings.errors().next().is_none(), "{:?}", t.findings);
    let p = basic_sidecar(&t);
    assert_eq!(p.listeners[0].listener.mtls, Some(InboundMtls::Strict));
    let allow = rbac(p, RBAC_ALLOW_FILTER).expect("allow config");
    let json = serde_json::to_value(&allow).expect("json");
    let policies = &json["rbac"]["rules"]["policies"];
    let policy = &policies["ns[default]-policy[kyc-credit-check-basic]-rule[0]"];
    assert_eq!(json["rbac"]["rules"]["action"], "ALLOW");
    assert_eq!(
        policy["principals"][0]["authenticated"]["principal_name"]["exact"],
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
    );
    assert_eq!(
        policy["permissions"][0]["url_path"]["path"]["prefix"],
        "/credit-check/"
    );
    assert!(rbac(p, RBAC_DENY_FILTER).is_none(), "no DENY policy");
    // The aggregator has no policy: no RBAC on its route.
    assert!(rbac(sidecar(&t, "kyc-aggregator-mgt"), RBAC_ALLOW_FILTER).is_none());
    // Probes pass whatever the policy.
    let probes = &p.listeners[0].routes.virtual_hosts[0].routes[0];
    assert_eq!(probes.name, "probes");
    match probes.typed_per_filter_config.get(RBAC_ALLOW_FILTER) {
        Some(PerFilterConfig::Rbac(a)) => assert!(a.value.rbac.is_none()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn authorization_policy_fields_empty_policy_and_refusals() {
    let deny = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: no-post}\nspec:\n  action: DENY\n  rules:\n  - from: [{source: {notPrincipals: [\"cluster.local/ns/default/sa/kyc-aggregator-mgt\"], namespaces: [default]}}]\n    to: [{operation: {methods: [POST], ports: [\"8080\"]}}]\n    when: [{key: \"request.headers[x-kyc-tester]\", values: [\"adv*\"]}]\n";
    let t = mesh(deny);
    assert!(t.findings.errors().next().is_none(), "{:?}", t.findings);
    let d = serde_json::to_value(rbac(basic_sidecar(&t), RBAC_DENY_FILTER).expect("deny"))
        .expect("json");
    let policy = &d["rbac"]["rules"]["policies"]["ns[default]-policy[no-post]-rule[0]"];
    let perms = &policy["permissions"][0]["and_rules"]["rules"];
    let text = perms.to_string();
    assert!(text.contains(":method") && text.contains("POST"), "{text}");
    assert!(
        text.contains("\"destination_port\":8081"),
        "8080 is the inbound's local port: {text}"
    );
    assert!(
        text.contains("x-kyc-tester") && text.contains("\"prefix\":\"adv\""),
        "{text}"
    );
    let ids = policy["principals"][0]["and_ids"]["ids"].to_string();
    assert!(
        ids.contains("not_id") && ids.contains("ns/default/"),
        "{ids}"
    );
    // An empty policy denies everything: ALLOW with no policies.
    let empty = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all}\nspec: {}\n";
    let t = mesh(empty);
    let a = serde_json::to_value(rbac(basic_sidecar(&t), RBAC_ALLOW_FILTER).expect("allow"))
        .expect("json");
    assert_eq!(a["rbac"]["rules"]["policies"], serde_json::json!({}));
    for (yaml, says) in [
        ("spec: {action: CUSTOM, provider: {name: x}}", "CUSTOM"),
        ("spec: {action: AUDIT}", "AUDIT"),
        (
            "spec: {rules: [{when: [{key: source.ip, values: [\"1.2.3.4\"]}]}]}",
            "source.ip",
        ),
        (
            "spec: {rules: [{to: [{operation: {ports: [http]}}]}]}",
            "not a port number",
        ),
    ] {
        let t = mesh(&format!("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p}}\n{yaml}\n"));
        let errors: Vec<String> = t.findings.errors().map(|f| f.to_string()).collect();
        assert!(
            errors.iter().any(|e| e.contains(says)),
            "{says}: {errors:?}"
        );
    }
    let unknown = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules: [{from: [{source: {ipBlocks: [\"1.2.3.4\"]}}]}]\n";
    let text = format!("{}\n---\n{unknown}", base());
    let err = parse_documents(&text, Path::new("t.yaml")).expect_err("refused");
    assert!(err[0].to_string().contains("ipBlocks"), "{err:?}");
    // A principal nobody has is reported (IST0101), not an error.
    let ghost = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/ghost]}}]}]\n";
    let t = mesh(ghost);
    assert!(
        t.findings
            .0
            .iter()
            .any(|f| f.message.contains("ghost") && f.code.is_some()),
        "{:?}",
        t.findings
    );
}

#[test]
fn check_reports_selectors_namespaces_and_principals_that_match_nothing() {
    let yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  selector: {matchLabels: {app: ghost}}\n  rules: [{from: [{source: {namespaces: [nowhere], principals: [cluster.local/ns/default/sa/kyc-aggregator-mgt]}}]}]\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: q}\nspec:\n  selector: {matchLabels: {app: ghost}}\n  mtls: {mode: STRICT}\n";
    // Also without sidecars: `check` on the edge-only translation sees them.
    let out = cfg_of(yaml);
    let coded: Vec<String> = out
        .findings
        .0
        .iter()
        .filter_map(|f| f.code.map(|c| format!("{} {}", c.id(), f.message)))
        .collect();
    assert_eq!(
        coded.iter().filter(|c| c.starts_with("IST0127")).count(),
        2,
        "both selectors: {coded:?}"
    );
    assert!(
        coded
            .iter()
            .any(|c| c.starts_with("IST0101") && c.contains("nowhere")),
        "{coded:?}"
    );
    assert!(
        !coded.iter().any(|c| c.contains("kyc-aggregator-mgt")),
        "a known principal is no finding: {coded:?}"
    );
}

#[test]
fn destination_rule_policies_and_mesh_routes_apply_in_the_callers_sidecar() {
    // networking/'s own DestinationRules: connection pool and outlier detection for advanced.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
    let objects = crate::istio::load(&dir, None).expect("networking/ loads");
    let t = translate_mesh(&objects, &Ports::default(), &plan());
    let agg = sidecar(&t, "kyc-aggregator-mgt");
    let advanced = agg
        .clusters
        .values()
        .find(|c| {
            c.name.to_string()
                == "outbound|8080||kyc-credit-check-advanced.default.svc.cluster.local"
        })
        .expect("the aggregator's outbound cluster to advanced");
    assert!(
        advanced.outlier_detection.is_some(),
        "outlier detection in the caller"
    );
    assert!(
        advanced.circuit_breakers.thresholds[0].max_connections < u64::from(u32::MAX),
        "the connection pool's limit in the caller"
    );
    assert_eq!(
        advanced.load_assignment.endpoints[0].lb_endpoints[0]
            .endpoint
            .address
            .socket_address
            .port_value,
        8082,
        "the advanced sidecar's inbound"
    );
    // A VirtualService bound to `mesh`: retries and a timeout in the aggregator's sidecar.
    let vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: m}\nspec:\n  hosts: [kyc-credit-check-basic]\n  gateways: [mesh]\n  http:\n  - timeout: 1s\n    retries: {attempts: 4, perTryTimeout: 200ms}\n    route: [{destination: {host: kyc-credit-check-basic, subset: v1}}]\n";
    let t = mesh(vs);
    assert!(t.findings.errors().next().is_none(), "{:?}", t.findings);
    let out = &sidecar(&t, "kyc-aggregator-mgt").listeners[1].routes;
    let vh = out
        .virtual_hosts
        .iter()
        .find(|v| v.name == "kyc-credit-check-basic.default.svc.cluster.local:8080")
        .expect("virtual host");
    let r = &vh.routes[0];
    assert_eq!(single(r), BASIC);
    assert_eq!(r.route.timeout.map(|d| d.to_string()), Some("1s".into()));
    assert_eq!(
        r.route.retry_policy.as_ref().map(|p| p.num_retries),
        Some(4)
    );
    // The gateway is not bound to `mesh`: it has no route from this VirtualService.
    let gw = t.proxy(ProxyId::IngressGateway).expect("gateway");
    assert!(gw.listeners[0].routes.virtual_hosts.is_empty());
}
