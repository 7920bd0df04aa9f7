//! End-to-end with the real service binaries: `kyc-mesh up` starts kyc-aggregator-mgt,
//! kyc-credit-check-basic and kyc-credit-check-advanced (from the directory of the
//! kyc-mesh binary, i.e. target/debug after `cargo build --workspace --bins`) and Envoy.

use std::path::PathBuf;
use std::time::Duration;

use crate::helpers::http::{client, count, get, tally};
use crate::helpers::mesh::{alive, children, run_split, Mesh, MeshSpec};
use crate::helpers::{kyc_mesh, poll_async, repo_networking, scenario, ADVANCED, AGG, BASIC};

pub(crate) fn require_binaries() {
    let dir = kyc_mesh().parent().map(PathBuf::from).expect("bin dir");
    for b in [AGG, BASIC, ADVANCED, "kyc-node-proxy"] {
        assert!(
            dir.join(b).is_file(),
            "{} is missing: run `cargo build --workspace --bins` before these tests",
            dir.join(b).display()
        );
    }
}

async fn start(envoy: PathBuf, networking: PathBuf, service_env: Vec<String>) -> Mesh {
    start_with(envoy, networking, service_env, vec![]).await
}

/// The real services behind Envoy, with more `up` options.
pub(crate) async fn start_with(
    envoy: PathBuf,
    networking: PathBuf,
    service_env: Vec<String>,
    up_args: Vec<String>,
) -> Mesh {
    start_real(envoy, networking, None, service_env, up_args).await
}

/// The one way the real-service tests start a mesh: `networking` (and a scenario from the
/// start), extra service environment and `up` options, off the async runtime.
pub(crate) async fn start_real(
    envoy: PathBuf,
    networking: PathBuf,
    scenario: Option<PathBuf>,
    service_env: Vec<String>,
    up_args: Vec<String>,
) -> Mesh {
    require_binaries();
    tokio::task::spawn_blocking(move || {
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &networking,
            scenario: scenario.as_deref(),
            external: None,
            service_env,
            up_args,
        })
    })
    .await
    .expect("start")
}

pub(crate) fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_services_split_50_50_through_gateway_and_browser_url() {
    let envoy = require_envoy!();
    let mesh = start(envoy, repo_networking(), vec![]).await;
    let c = client();
    // The browser URL of the original: the aggregator, whose scorer call crosses the gateway.
    let browser = format!("http://127.0.0.1:{}/kyc/v1/customer", mesh.aggregator);
    let m = tally(&c, &browser, 200, &[]).await;
    // Binomial(200, 0.5): sd 7; 60..140 is beyond ±5 sd.
    assert_eq!(count(&m, BASIC) + count(&m, ADVANCED), 200, "{m:?}");
    assert!((60..=140).contains(&count(&m, BASIC)), "{m:?}");
    let a = get(&c, &browser, &[]).await;
    let body: serde_json::Value = serde_json::from_str(&a.body).expect("json report");
    assert!(
        matches!(body["type"].as_str(), Some("BASIC") | Some("ADVANCED")),
        "{body}"
    );
    assert!(a.headers.contains_key("x-kyc-scored-by"), "{a:?}");
    // Through the gateway, as in the cluster; and the split command's chart.
    let m = tally(&c, &mesh.url("/kyc/v1/customer"), 100, &[]).await;
    assert_eq!(count(&m, BASIC) + count(&m, ADVANCED), 100, "{m:?}");
    assert!(count(&m, BASIC) > 0 && count(&m, ADVANCED) > 0, "{m:?}");
    // Pinned routes through the aggregator.
    let m = tally(&c, &format!("{browser}?type=basicReport"), 10, &[]).await;
    assert_eq!(count(&m, BASIC), 10, "{m:?}");
    let m = tally(&c, &format!("{browser}?type=advancedReport"), 10, &[]).await;
    assert_eq!(count(&m, ADVANCED), 10, "{m:?}");
    let out = run_split(mesh.gateway, 50).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(BASIC) && text.contains(ADVANCED),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_services_retries_mask_chaos_error_rate() {
    let envoy = require_envoy!();
    // networking/ as is: its outlier detection (maxEjectionPercent 50) never ejects the
    // only advanced pod (Envoy counts ejections_overflow instead), so the retries alone
    // decide what the client sees.
    let mesh = start(
        envoy,
        repo_networking(),
        vec![format!("{ADVANCED}:KYC_CHAOS_ERROR_RATE=0.5")],
    )
    .await;
    let c = client();
    let url = mesh.url("/credit-check/advanced");
    // no-retries: the scorer's injected 503s reach the client (~50 %).
    let out = mesh.use_scenario(&scenario("no-retries.yaml").display().to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = tally(&c, &url, 100, &[]).await;
    assert!(
        count(&m, "HTTP 503") >= 25,
        "chaos visible without retries: {m:?}"
    );
    let failed = poll_async(
        "a chaos 503 from the scorer",
        Duration::from_secs(10),
        || {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let a = get(&c, &url, &[]).await;
                (a.status == 503).then_some(a)
            }
        },
    )
    .await;
    assert!(
        failed.body.contains("KYC-CRD-CHK"),
        "the scorer's own error JSON: {failed:?}"
    );
    // timeouts-retries: 6 tries per request, a failure needs 6 chaos hits in a row (1.6 %).
    let out = mesh.use_scenario(&scenario("timeouts-retries.yaml").display().to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = tally(&c, &url, 100, &[]).await;
    assert!(count(&m, ADVANCED) >= 90, "retries mask the chaos: {m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_services_dead_scorer_is_reported_and_shutdown_leaves_no_process() {
    let envoy = require_envoy!();
    let restart_never = vec!["--restart".to_string(), "never".to_string()];
    let mut mesh = start_with(envoy, repo_networking(), vec![], restart_never).await;
    let kids = children(mesh.pid());
    // networking/ injects every workload: three services, their three sidecars, the gateway.
    assert_eq!(
        kids.len(),
        7,
        "three services, three sidecars and the gateway: {kids:?}"
    );
    let basic = *kids
        .iter()
        .find(|p| cmdline(**p).contains(BASIC))
        .expect("basic pid");
    // SAFETY: kill(2) on a child of our child.
    unsafe {
        libc::kill(basic as i32, libc::SIGKILL);
    }
    mesh.wait_output(&format!("service {BASIC} exited"));
    mesh.wait_output("--restart never: not restarted");
    let c = client();
    let m = tally(&c, &mesh.url("/credit-check/advanced"), 10, &[]).await;
    assert_eq!(count(&m, ADVANCED), 10, "the rest keeps running: {m:?}");
    let a = get(&c, &mesh.url("/credit-check/basic"), &[]).await;
    assert_eq!(a.status, 503, "the gateway reports the dead pod: {a:?}");
    assert!(
        mesh.child
            .as_mut()
            .expect("running")
            .try_wait()
            .expect("wait")
            .is_none(),
        "up keeps running"
    );
    let (status, mesh) = tokio::task::spawn_blocking(move || {
        let s = mesh.stop();
        (s, mesh)
    })
    .await
    .expect("join");
    assert!(status.success(), "{status:?}\n{}", mesh.output());
    let survivors: Vec<u32> = kids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(survivors.is_empty(), "processes left behind: {survivors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_services_header_routing_through_the_aggregator() {
    let envoy = require_envoy!();
    let mesh = start(envoy, repo_networking(), vec![]).await;
    let out = mesh.use_scenario(&scenario("header-routing.yaml").display().to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = client();
    // The aggregator forwards x-kyc-tester on its call through the gateway.
    let browser = format!("http://127.0.0.1:{}/kyc/v1/customer", mesh.aggregator);
    let m = tally(&c, &browser, 20, &[("x-kyc-tester", "advanced")]).await;
    assert_eq!(count(&m, ADVANCED), 20, "{m:?}");
    let m = tally(&c, &browser, 20, &[]).await;
    assert_eq!(count(&m, BASIC), 20, "{m:?}");
}
