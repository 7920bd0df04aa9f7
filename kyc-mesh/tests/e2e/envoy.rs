//! End-to-end routing: `kyc-mesh up --external-services` runs a real Envoy from
//! networking/ in front of stand-in backends (in-process HTTP servers on 127.0.0.1:0).
//! Every scenario of networking/scenarios is exercised through the gateway.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::helpers::backend::Backends;
use crate::helpers::http::{count, get, tally};
use crate::helpers::mesh::{gateway_http_stat, run_split};
use crate::helpers::{poll_async, ADVANCED, BASIC};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_is_50_50_and_pinned_routes_stay_pinned() {
    let (_b, mesh, c) = mesh_on_repo!(None);
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
    let (_b, mesh, _) = mesh_on_repo!(None);
    let out = run_split(mesh.gateway, 200).await;
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
    let (_b, mesh, c) = mesh_on_repo!(Some("canary-90-10.yaml"));
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
    // A scenario that needs istiod (a Sidecar resource) is refused and the mesh keeps its config.
    let dir = tempfile::tempdir().expect("tmp");
    let istiod = dir.path().join("sidecar.yaml");
    std::fs::write(&istiod, crate::helpers::NEEDS_ISTIOD_YAML).expect("write");
    let out = mesh.use_scenario(&istiod.display().to_string());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("minikube"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_header_routing() {
    let (_b, mesh, c) = mesh_on_repo!(Some("header-routing.yaml"));
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
    let (_b, mesh, c) = mesh_on_repo!(Some("fault-delay-advanced.yaml"));
    // The fault filter's counter, under the stat prefix the translated listener carries.
    let stat = gateway_http_stat(&mesh, "fault.delays_injected");
    let m = tally(&c, &mesh.url("/credit-check/basic"), 5, &[]).await;
    assert_eq!(count(&m, BASIC), 5);
    assert_eq!(mesh.stat(&stat).await, 0, "basic is not delayed");
    let m = tally(&c, &mesh.url("/credit-check/advanced"), 4, &[]).await;
    assert_eq!(
        count(&m, ADVANCED),
        4,
        "delayed, then served by advanced: {m:?}"
    );
    assert_eq!(
        mesh.stat(&stat).await,
        4,
        "every advanced call was delayed by the fault filter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_fault_abort() {
    let (b, mesh, c) = mesh_on_repo!(Some("fault-abort-advanced.yaml"));
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
    let flaky = |b: &Backends| {
        b.advanced
            .state
            .fail_every_other
            .store(true, Ordering::SeqCst)
    };
    // networking/ as is: retries (attempts 3, retryOn 5xx) mask every other request failing.
    let (b, mesh, c) = mesh_on_repo!(None, flaky);
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
    let slow = |b: &Backends| b.advanced.state.delay_ms.store(1500, Ordering::SeqCst);
    let (b, mesh, c) = mesh_on_repo!(Some("timeouts-retries.yaml"), slow);
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
    let (b, mesh, c) = mesh_on_repo!(Some("mirroring.yaml"));
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
    let slow = |b: &Backends| b.advanced.state.delay_ms.store(400, Ordering::SeqCst);
    let (b, mesh, c) = mesh_on_repo!(Some("circuit-breaking.yaml"), slow);
    let url = mesh.url("/credit-check/advanced");
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
