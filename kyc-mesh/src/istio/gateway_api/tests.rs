//! Refusals: every Gateway API field or value the local mesh does not translate is named
//! with file, object and field path; other Gateway API kinds are refused by kind.

use std::path::Path;

use super::duration_ms;
use crate::istio::{load, parse_documents, Object};

const ROUTE_HEAD: &str = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n";
const GATEWAY_HEAD: &str = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  gatewayClassName: istio\n";

/// The one load error of `yaml`, as `kyc-mesh` prints it.
fn refused(yaml: &str) -> String {
    let errors = parse_documents(yaml, Path::new("networking/scenarios/g.yaml"))
        .expect_err("must be refused");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors[0].to_string()
}

#[test]
fn untranslated_route_fields_are_refused_by_path() {
    let cases = [
        // a filter type whose field is not translated
        (
            "  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n",
            "spec.rules[0].filters[0].type",
        ),
        (
            "  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: x, port: 80}}}]\n",
            "spec.rules[0].filters[0].type",
        ),
        (
            "  - backendRefs: [{name: x, port: 80}]\n    timeouts: {request: 1s, backendRequest: 500ms}\n",
            "spec.rules[0].timeouts.backendRequest",
        ),
        (
            "  - backendRefs: [{name: x, port: 80, filters: [{type: RequestHeaderModifier}]}]\n",
            "spec.rules[0].backendRefs[0].filters",
        ),
        (
            "  - backendRefs: [{name: x, port: 80}]\n    sessionPersistence: {sessionName: s}\n",
            "spec.rules[0].sessionPersistence",
        ),
        (
            "  - matches: [{path: {type: Prefix, value: /a}}]\n",
            "spec.rules[0].matches[0].path.type",
        ),
        (
            "  - matches: [{headers: [{type: Prefix, name: a, value: b}]}]\n",
            "spec.rules[0].matches[0].headers[0].type",
        ),
        (
            "  - filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /x}}}]\n",
            "spec.rules[0].filters[0].urlRewrite.path.type",
        ),
    ];
    for (rule, path) in cases {
        let msg = refused(&format!("{ROUTE_HEAD}{rule}"));
        assert!(msg.contains("networking/scenarios/g.yaml"), "{msg}");
        assert!(msg.contains("HTTPRoute \"r\""), "{msg}");
        assert!(msg.contains(&format!("field `{path}`")), "{path}: {msg}");
        assert!(msg.contains("is not translated by the local mesh"), "{msg}");
    }
}

#[test]
fn untranslated_gateway_fields_are_refused_by_path() {
    let cases = [
        (
            "  listeners: [{name: https, port: 443, protocol: HTTPS, tls: {mode: Terminate}}]\n",
            "spec.listeners[0].tls",
        ),
        (
            "  addresses: [{value: 10.0.0.1}]\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n",
            "spec.addresses",
        ),
        (
            "  listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector}}}]\n",
            "spec.listeners[0].allowedRoutes.namespaces.from",
        ),
        (
            "  infrastructure: {labels: {a: b}}\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n",
            "spec.infrastructure",
        ),
    ];
    for (spec, path) in cases {
        let msg = refused(&format!("{GATEWAY_HEAD}{spec}"));
        assert!(msg.contains("Gateway \"gw\""), "{msg}");
        assert!(msg.contains(&format!("field `{path}`")), "{path}: {msg}");
    }
    let msg = refused(&format!(
        "{GATEWAY_HEAD}  listeners: [{{name: http, port: 80, protocol: HTTP, tls: {{}}}}]\n"
    ));
    assert!(msg.contains("not translated by the local mesh"), "{msg}");
}

#[test]
fn other_gateway_api_kinds_are_refused_by_kind() {
    for kind in [
        "GRPCRoute",
        "TCPRoute",
        "TLSRoute",
        "ReferenceGrant",
        "GatewayClass",
    ] {
        let msg = refused(&format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: {kind}\nmetadata: {{name: x}}\nspec: {{}}\n"
        ));
        assert!(
            msg.contains(&format!("kind \"{kind}\" is not translated")),
            "{msg}"
        );
        assert!(
            msg.contains("gateway.networking.k8s.io Gateway/HTTPRoute"),
            "{msg}"
        );
    }
}

#[test]
fn wrong_types_and_bad_yaml_shapes_are_errors_not_panics() {
    for spec in [
        "  rules: {not: a list}\n",
        "  rules: [{backendRefs: [{name: x, port: 99999}]}]\n",
        "  rules: [{backendRefs: [{name: x, port: 80, weight: -1}]}]\n",
        "  parentRefs: [{}]\n",
        "  rules: [{matches: [{method: [GET]}]}]\n",
    ] {
        let msg = refused(&format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: r}}\nspec:\n{spec}"
        ));
        assert!(
            msg.contains("HTTPRoute \"r\": field `spec."),
            "{spec}: {msg}"
        );
    }
}

#[test]
fn a_gateway_api_gateway_does_not_replace_an_istio_gateway_of_the_same_name() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("gw.yaml"),
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: kyc}\nspec:\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n",
    )
    .expect("write");
    let scenario = dir.path().join("s.yaml");
    std::fs::write(
        &scenario,
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: kyc}\nspec:\n  gatewayClassName: istio\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n",
    )
    .expect("write");
    let objects = load(dir.path(), Some(&scenario)).expect("load");
    let kinds: Vec<bool> = objects
        .iter()
        .map(|o| matches!(o.object, Object::ApiGateway(_)))
        .collect();
    assert_eq!(kinds, [false, true], "both Gateways are kept");
}

#[test]
fn gateway_api_durations() {
    assert_eq!(duration_ms("5s"), Ok(5_000));
    assert_eq!(duration_ms("500ms"), Ok(500));
    assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
    assert_eq!(duration_ms("0s"), Ok(0));
    for bad in ["", "5", "1.5s", "5d", "s", "-1s", "123456s", "5 s"] {
        assert!(duration_ms(bad).is_err(), "{bad}");
    }
}
