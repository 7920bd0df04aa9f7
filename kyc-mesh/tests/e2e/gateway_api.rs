//! The Gateway API scenario (networking/scenarios/gateway-api.yaml) on a real Envoy:
//! `use gateway-api` switches a running mesh to the HTTPRoutes (which then answer before
//! networking/'s VirtualServices), the 50/50 split holds, a weight edit moves it, a broken
//! reference is refused with IST0101 keeping the live config, and `use none` goes back.
//! Once with stand-in backends, once with the real service binaries.

use crate::helpers::backend::backends;
use crate::helpers::http::{client, count, get, tally};
use crate::helpers::mesh::{mesh_with, Mesh, MeshSpec};
use crate::helpers::{networking_copy, repo_networking, scenario, ADVANCED, BASIC};
use crate::services::require_binaries;

/// `gateway-api.yaml` with the first `from` replaced by `to`, written to `dir/name`.
fn edited_scenario(dir: &tempfile::TempDir, name: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(scenario("gateway-api.yaml")).expect("scenario");
    assert!(text.contains(from), "{from:?} not in gateway-api.yaml");
    let path = dir.path().join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    path.display().to_string()
}

fn assert_used(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "use {what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("now uses scenario"),
        "use {what}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Each scorer gets 35–65 % of `n` (Binomial(200, 0.5): sd 7, the bounds are ±4.2 sd).
fn assert_even(m: &std::collections::BTreeMap<String, usize>, n: usize) {
    let (basic, adv) = (count(m, BASIC), count(m, ADVANCED));
    assert_eq!(basic + adv, n, "only the scorers answer: {m:?}");
    let (lo, hi) = (n * 35 / 100, n * 65 / 100);
    assert!(
        (lo..=hi).contains(&basic) && (lo..=hi).contains(&adv),
        "50/50 out of bounds: {m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_gateway_api_splits_moves_and_switches_back() {
    let (_b, mesh, c) = mesh_on_repo!(None);
    let report = mesh.url("/credit-check/report");

    assert_used(&mesh.use_scenario("gateway-api"), "gateway-api");
    let m = tally(&c, &report, 200, &[]).await;
    assert_even(&m, 200);
    // The HTTPRoutes' pinned rules and the aggregator's route.
    let m = tally(&c, &mesh.url("/credit-check/basic"), 20, &[]).await;
    assert_eq!(count(&m, BASIC), 20, "{m:?}");
    let m = tally(&c, &mesh.url("/credit-check/advanced/x"), 20, &[]).await;
    assert_eq!(count(&m, ADVANCED), 20, "{m:?}");
    let a = get(&c, &mesh.url("/ingress/kyc/v1/customer"), &[]).await;
    assert_eq!(a.status, 200, "{a:?}");

    // Moving the canary as the scenario's header says (edit the weights, apply again):
    // the HTTPRoute answers, not networking/'s 50/50 VirtualService behind it.
    let tmp = tempfile::tempdir().expect("tmp");
    // The first weight in the file is basic's.
    let all_advanced = edited_scenario(
        &tmp,
        "moved.yaml",
        "          weight: 50\n",
        "          weight: 0\n",
    );
    assert_used(&mesh.use_scenario(&all_advanced), "0/50");
    let m = tally(&c, &report, 40, &[]).await;
    assert_eq!(count(&m, ADVANCED), 40, "weight 0 for basic: {m:?}");

    // A backendRef to a Service that does not exist is refused; the live config stays.
    let broken = edited_scenario(
        &tmp,
        "broken.yaml",
        "        - name: kyc-credit-check-advanced\n          port: 8080\n          weight: 50",
        "        - name: kyc-credit-check-nope\n          port: 8080\n          weight: 50",
    );
    let out = mesh.use_scenario(&broken);
    assert!(!out.status.success(), "a broken scenario was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "spec.rules[2].backendRefs[1]: Service \"default/kyc-credit-check-nope\" not found"
        ) && err.contains("IST0101"),
        "{err}"
    );
    let m = tally(&c, &report, 20, &[]).await;
    assert_eq!(count(&m, ADVANCED), 20, "the last good config stays: {m:?}");

    // Back to networking/ alone: its VirtualService's 50/50.
    assert_used(&mesh.use_scenario("none"), "none");
    let m = tally(&c, &report, 200, &[]).await;
    assert_even(&m, 200);
}

/// HTTPRoute features the scenario does not use, on their own (no VirtualService for
/// /credit-check/* behind them).
const FEATURES: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: features}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /credit-check/report}}]
    backendRefs: [{name: kyc-credit-check-basic, port: 8080}]
  - matches:
    - path: {type: PathPrefix, value: /credit-check/report}
      headers: [{name: x-kyc-tester, value: advanced}]
    backendRefs: [{name: kyc-credit-check-advanced, port: 8080}]
  - matches: [{path: {type: Exact, value: /exact}, method: GET}]
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-route, value: exact}]}
    - type: URLRewrite
      urlRewrite: {hostname: scorer.example}
    backendRefs: [{name: kyc-credit-check-advanced, port: 8080}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_matches_precedence_and_filters_on_envoy() {
    let envoy = require_envoy!();
    let b = backends().await;
    let dir = networking_copy();
    std::fs::remove_file(dir.path().join("kyc-credit-check-istio-routing.yaml")).expect("rm");
    let mesh = mesh_with(&envoy, &b, dir.path(), None).await;
    let c = client();
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("features.yaml");
    std::fs::write(&file, FEATURES).expect("write");
    assert_used(&mesh.use_scenario(&file.display().to_string()), "features");

    // The rule with a header match wins over the plain prefix listed before it.
    let m = tally(&c, &mesh.url("/credit-check/report"), 10, &[]).await;
    assert_eq!(count(&m, BASIC), 10, "{m:?}");
    let tester = [("x-kyc-tester", "advanced")];
    let m = tally(&c, &mesh.url("/credit-check/report"), 10, &tester).await;
    assert_eq!(count(&m, ADVANCED), 10, "{m:?}");
    // PathPrefix matches whole segments.
    let m = tally(&c, &mesh.url("/credit-check/report/x"), 5, &[]).await;
    assert_eq!(count(&m, BASIC), 5, "{m:?}");
    let a = get(&c, &mesh.url("/credit-check/reportx"), &[]).await;
    assert_eq!(
        a.status, 404,
        "a segment prefix does not match /credit-check/reportx"
    );
    // Exact + method, a response header set, the Host rewritten.
    let a = get(&c, &mesh.url("/exact"), &[]).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.served_by.as_deref(), Some(ADVANCED), "{a:?}");
    assert_eq!(
        a.headers.get("x-route").map(|v| v.as_bytes()),
        Some(&b"exact"[..])
    );
    let hosts = b.advanced.state.hosts.lock().expect("lock").clone();
    assert_eq!(
        hosts.last().map(String::as_str),
        Some("scorer.example"),
        "{hosts:?}"
    );
    assert_eq!(get(&c, &mesh.url("/exact/more"), &[]).await.status, 404);
    let post = c.post(mesh.url("/exact")).send().await.expect("POST");
    assert_eq!(post.status().as_u16(), 404, "method GET only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_services_split_through_the_gateway_api_scenario() {
    let envoy = require_envoy!();
    require_binaries();
    let networking = repo_networking();
    let file = scenario("gateway-api.yaml");
    let mesh = tokio::task::spawn_blocking(move || {
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &networking,
            scenario: Some(&file),
            external: None,
            service_env: vec![],
            up_args: vec![],
        })
    })
    .await
    .expect("start");
    let c = client();
    // Through the gateway to the aggregator (HTTPRoute "kyc"), whose call to
    // /credit-check/report crosses the gateway again (HTTPRoute "kyc-credit-check").
    let m = tally(&c, &mesh.url("/kyc/v1/customer"), 200, &[]).await;
    assert_even(&m, 200);
    let a = get(&c, &mesh.url("/kyc/v1/customer?type=advancedReport"), &[]).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.served_by.as_deref(), Some(ADVANCED), "{a:?}");

    // With sidecars (up's default) the gateway calls an HTTPRoute's backend Services with
    // auto mTLS, as a VirtualService's: the handshakes are on its per-Service clusters ...
    let basic = "cluster.outbound|8080||kyc-credit-check-basic.default.svc.cluster.local";
    assert!(mesh.stat(&format!("{basic}.ssl.handshake")).await > 0);
    // ... so the Gateway API routes keep working with mtls-strict's STRICT inbounds and its
    // gateway-only AuthorizationPolicies added.
    let tmp = tempfile::tempdir().expect("tmp");
    let both = tmp.path().join("gateway-api-strict.yaml");
    let text = |f: &str| std::fs::read_to_string(scenario(f)).expect("scenario");
    let combined = format!(
        "{}
---
{}",
        text("gateway-api.yaml"),
        text("mtls-strict.yaml")
    );
    std::fs::write(&both, combined).expect("write");
    let out = mesh.use_scenario(&both.display().to_string());
    assert_used(&out, "gateway-api + mtls-strict");
    // STRICT is in force: a plaintext call into basic's sidecar is refused.
    let plain = format!("http://127.0.0.1:{}/credit-check/basic", mesh.basic);
    assert!(c.get(&plain).send().await.is_err(), "plaintext accepted");
    let m = tally(&c, &mesh.url("/kyc/v1/customer"), 60, &[]).await;
    assert_eq!(count(&m, BASIC) + count(&m, ADVANCED), 60, "{m:?}");
    assert!(count(&m, BASIC) > 0 && count(&m, ADVANCED) > 0, "{m:?}");
}
