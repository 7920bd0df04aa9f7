//! The Gateway API scenario (networking/scenarios/gateway-api.yaml) on a real Envoy:
//! `use gateway-api` switches a running mesh to the HTTPRoutes (which then answer before
//! networking/'s VirtualServices), the 50/50 split holds, a weight edit moves it, a broken
//! reference is refused with IST0101 keeping the live config, and `use none` goes back.
//! Once with stand-in backends, once with the real service binaries.

use crate::helpers::http::{client, count, get, tally};
use crate::helpers::mesh::{Mesh, MeshSpec};
use crate::helpers::{repo_networking, scenario, ADVANCED, BASIC};
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
}
