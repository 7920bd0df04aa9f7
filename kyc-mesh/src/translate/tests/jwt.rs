//! RequestAuthentication → the sidecar inbound's `jwt_authn` filter (as istiod builds it), and
//! AuthorizationPolicy's `requestPrincipals` / `request.auth.*` → RBAC on the verified payload.

use super::*;
use crate::envoy::listener::RBAC_ALLOW_FILTER;
use crate::envoy::route::PerFilterConfig;
use crate::topology::{SidecarPlan, SidecarPorts};

fn plan(edge_only: bool) -> SidecarPlan {
    let none = SidecarPorts {
        outbound: 0,
        admin: 0,
    };
    SidecarPlan {
        sidecars: if edge_only {
            Default::default()
        } else {
            crate::topology::BINARIES
                .iter()
                .map(|b| (*b, none))
                .collect()
        },
        certs: "/certs".into(),
        edge_only,
    }
}

fn translate_with(extra: &str, edge_only: bool) -> Translation {
    let text = format!("{}\n---\n{extra}", super::base());
    let objects = parse_documents(&text, Path::new("test.yaml")).expect("parses");
    translate_mesh(&objects, &Ports::default(), &plan(edge_only))
}

fn scenario() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking/scenarios/jwt-auth.yaml"),
    )
    .expect("jwt-auth.yaml")
}

/// A sidecar's inbound listener as Envoy gets it (JSON).
fn inbound_json(t: &Translation, name: &'static str) -> serde_json::Value {
    let p = t.proxy(ProxyId::Sidecar(name)).expect("sidecar");
    let l = &p.listeners[0];
    let built = l.listener.build(
        crate::envoy::listener::RouteSpecifier::RouteConfig(l.routes.clone()),
        None,
    );
    serde_json::to_value(built).expect("json")
}

fn errors(t: &Translation) -> Vec<String> {
    t.findings.errors().map(|f| f.to_string()).collect()
}

#[test]
fn the_scenario_puts_jwt_authn_before_rbac_on_the_aggregators_inbound_only() {
    let t = translate_with(&scenario(), false);
    assert!(errors(&t).is_empty(), "{:?}", errors(&t));
    let json = inbound_json(&t, "kyc-aggregator-mgt");
    let filters = &json["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"];
    let names: Vec<&str> = filters
        .as_array()
        .expect("filters")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.jwt_authn",
            "envoy.filters.http.rbac.deny",
            "envoy.filters.http.rbac.allow",
            "envoy.filters.http.fault",
            "envoy.filters.http.router"
        ]
    );
    let jwt = &filters[0]["typed_config"];
    assert_eq!(
        jwt["@type"],
        "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
    );
    let p = &jwt["providers"]["origins-0"];
    assert_eq!(p["issuer"], crate::token::DEMO_ISSUER);
    assert_eq!(p["audiences"][0], crate::token::DEMO_AUDIENCE);
    assert_eq!(p["forward"], false, "forwardOriginalToken: false");
    assert_eq!(p["payload_in_metadata"], "payload");
    assert_eq!(
        p["normalize_payload_in_metadata"]["space_delimited_claims"],
        serde_json::json!(["permission", "scope"])
    );
    assert_eq!(
        p["claim_to_headers"][0],
        serde_json::json!({"header_name": "x-kyc-subject", "claim_name": "sub"})
    );
    assert!(crate::token::has_demo_key(
        p["local_jwks"]["inline_string"].as_str().expect("jwks")
    ));
    // istiod's requirement for one provider: the provider, or no token at all.
    assert_eq!(
        jwt["rules"][0],
        serde_json::json!({"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
            {"provider_name": "origins-0"}, {"allow_missing": {}}]}}})
    );
    assert_eq!(jwt["bypass_cors_preflight"], true);
    // The scorers verify no token.
    let basic = inbound_json(&t, "kyc-credit-check-basic");
    assert!(!basic.to_string().contains("jwt_authn"));
}

#[test]
fn request_principals_and_claims_match_the_verified_payload() {
    let t = translate_with(&scenario(), false);
    let p = t
        .proxy(ProxyId::Sidecar("kyc-aggregator-mgt"))
        .expect("sidecar");
    let route = p.listeners[0].routes.virtual_hosts[0]
        .routes
        .iter()
        .find(|r| r.name == "default")
        .expect("default route");
    let Some(PerFilterConfig::Rbac(allow)) = route.typed_per_filter_config.get(RBAC_ALLOW_FILTER)
    else {
        panic!("an ALLOW RBAC")
    };
    let json = serde_json::to_value(&allow.value).expect("json");
    let policies = &json["rbac"]["rules"]["policies"];
    let read = &policies["ns[default]-policy[kyc-aggregator-mgt-read]-rule[0]"];
    let any_token = serde_json::json!({"and_ids": {"ids": [
        {"sourced_metadata": {"metadata_matcher": {"filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, {"key": "iss"}], "value": {"string_match": {"safe_regex": {"regex": ".+"}}}}}},
        {"sourced_metadata": {"metadata_matcher": {"filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, {"key": "sub"}], "value": {"string_match": {"safe_regex": {"regex": ".+"}}}}}}]}});
    assert_eq!(read["principals"][0], any_token);
    // scope may be a string or (space-delimited, normalised) a list: istiod's extended form.
    let write = &policies["ns[default]-policy[kyc-aggregator-mgt-write]-rule[0]"];
    let scope = serde_json::json!({"sourced_metadata": {"metadata_matcher": {
        "filter": "envoy.filters.http.jwt_authn", "path": [{"key": "payload"}, {"key": "scope"}],
        "value": {"or_match": {"value_matchers": [
            {"list_match": {"one_of": {"string_match": {"exact": "kyc.write"}}}},
            {"string_match": {"exact": "kyc.write"}}]}}}}});
    assert_eq!(
        write["principals"][0],
        serde_json::json!({"and_ids": {"ids": [any_token, scope]}})
    );
    assert!(
        policies["ns[default]-policy[kyc-aggregator-mgt-write]-rule[1]"]
            .to_string()
            .contains("\"groups\"")
    );
}

#[test]
fn istios_request_principal_wildcards() {
    let ap = |principal: &str| {
        format!("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p}}\nspec:\n  selector: {{matchLabels: {{app: kyc-aggregator-mgt}}}}\n  rules:\n  - from: [{{source: {{requestPrincipals: [\"{principal}\"]}}}}]\n")
    };
    let matchers = |principal: &str| -> (String, String) {
        let t = translate_with(&ap(principal), false);
        let p = t
            .proxy(ProxyId::Sidecar("kyc-aggregator-mgt"))
            .expect("sidecar");
        let route = &p.listeners[0].routes.virtual_hosts[0].routes[1];
        let Some(PerFilterConfig::Rbac(allow)) =
            route.typed_per_filter_config.get(RBAC_ALLOW_FILTER)
        else {
            panic!("allow")
        };
        let v = serde_json::to_value(&allow.value).expect("json");
        let ids = &v["rbac"]["rules"]["policies"]["ns[default]-policy[p]-rule[0]"]["principals"][0]
            ["and_ids"]["ids"];
        let m = |i: usize| {
            ids[i]["sourced_metadata"]["metadata_matcher"]["value"]["string_match"].to_string()
        };
        (m(0), m(1))
    };
    assert_eq!(
        matchers("https://issuer.example/sub/alice"),
        (
            r#"{"exact":"https://issuer.example/sub"}"#.into(),
            r#"{"exact":"alice"}"#.into()
        )
    );
    assert_eq!(
        matchers("iss/*"),
        (
            r#"{"exact":"iss"}"#.into(),
            r#"{"safe_regex":{"regex":".+"}}"#.into()
        )
    );
    assert_eq!(
        matchers("*/bob"),
        (
            r#"{"safe_regex":{"regex":".+"}}"#.into(),
            r#"{"exact":"bob"}"#.into()
        )
    );
}

#[test]
fn what_the_local_mesh_cannot_honour_is_refused_by_field() {
    let ra = |rule: &str| {
        format!("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: r}}\nspec:\n  selector: {{matchLabels: {{app: kyc-aggregator-mgt}}}}\n  jwtRules:\n  - {rule}\n")
    };
    let cases = [
        (
            "{issuer: i, jwksUri: 'https://x/jwks'}",
            "spec.jwtRules[0].jwksUri",
        ),
        ("{issuer: i}", "spec.jwtRules[0].jwks: required"),
        (
            "{issuer: i, jwks: 'not json'}",
            "spec.jwtRules[0].jwks: not JSON",
        ),
        ("{issuer: i, jwks: '{\"keys\": []}'}", "`keys` is empty"),
        (
            "{issuer: i, jwks: '{\"keys\": [{\"kty\": \"RSA\"}]}'}",
            "needs `n` and `e`",
        ),
        (
            "{issuer: '', jwks: '{\"keys\": [{\"kty\": \"oct\"}]}'}",
            "spec.jwtRules[0].issuer: required",
        ),
    ];
    for (rule, expected) in cases {
        let e = errors(&translate_with(&ra(rule), false)).join("\n");
        assert!(e.contains(expected), "{rule}: {e}");
        assert!(e.contains("RequestAuthentication \"r\""), "{e}");
    }
    // An untranslated field is refused when loading, by path.
    let text = format!(
        "{}---\n{}",
        super::base(),
        ra("{issuer: i, jwks: '{}', bogus: 1}")
    );
    let e = parse_documents(&text, Path::new("t.yaml")).expect_err("refused");
    assert!(e[0].to_string().contains("spec.jwtRules[0]"), "{}", e[0]);
    let e = parse_documents(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r}\nspec:\n  targetRef: {kind: Gateway, name: g}\n",
        Path::new("t.yaml"),
    )
    .expect_err("refused");
    assert!(e[0].to_string().contains("targetRef"), "{}", e[0]);
    // An unknown `when` key on a token is named too.
    let ap = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - when: [{key: 'request.auth.claims[', values: [x]}]\n";
    let e = errors(&translate_with(ap, false)).join("\n");
    assert!(e.contains("request.auth.claims[NAME]"), "{e}");
}

#[test]
fn a_mesh_without_sidecars_refuses_a_request_authentication() {
    let e = errors(&translate_with(&scenario(), true)).join("\n");
    assert!(
        e.contains("no sidecars in this mesh") && e.contains("--no-sidecars"),
        "{e}"
    );
    // `check` and `use` translate as if every injected workload had its sidecar: accepted.
    assert!(errors(&translate_with(&scenario(), false)).is_empty());
}
