//! The dashboard and the local Prometheus of a mesh with sidecars under mTLS STRICT (real
//! services, real Envoys): the contract ports refuse plaintext, yet the dashboard shows every
//! service ready, asked on each app instance's own port, also after a `rollout restart`
//! moved an instance to a new port; Prometheus scrapes every app instance and every sidecar.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::http::{client, dashboard_state};
use crate::helpers::mesh::Mesh;
use crate::helpers::{free_port, kyc_mesh, poll_async, repo_networking, scenario, BASIC};
use crate::prometheus::prometheus_binary;
use crate::services::start_real;

const WAIT: Duration = Duration::from_secs(60);

/// A mesh of networking/ with sidecars, on `mtls-strict` from the start when `strict`.
async fn start_mesh(envoy: PathBuf, up_args: Vec<String>, strict: bool) -> Mesh {
    let strict = strict.then(|| scenario("mtls-strict.yaml"));
    start_real(envoy, repo_networking(), strict, vec![], up_args).await
}

/// Every node of the graph that has a readiness says ready, and every version too.
fn all_ready(view: &Value) -> bool {
    let nodes = view["nodes"].as_array().map_or(Vec::new(), |n| {
        n.iter().filter(|x| x.get("ready").is_some()).collect()
    });
    let versions = view["versions"].as_array().cloned().unwrap_or_default();
    nodes.len() >= 5
        && versions.len() == 2
        && nodes.iter().all(|n| n["ready"] == true)
        && versions.iter().all(|v| v["ready"] == true)
}

/// The instance port `up` serves `name` from now (its status file).
fn instance_port(mesh: &Mesh, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(mesh.state_dir.path().join("run/mesh.json")).ok()?;
    let status: Value = serde_json::from_str(&text).ok()?;
    status["workloads"]
        .as_array()?
        .iter()
        .find(|w| w["name"] == name)?["instance"]["port"]
        .as_u64()
}

/// `kyc-mesh <args>` against `mesh` (off the async runtime); it must succeed.
async fn kyc(mesh: &Mesh, args: &'static [&'static str]) {
    let state_dir = mesh.state_dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(kyc_mesh())
            .arg("--state-dir")
            .arg(&state_dir)
            .args(args)
            .output()
            .expect("kyc-mesh")
    })
    .await
    .expect("join");
    assert!(out.status.success(), "kyc-mesh {args:?}: {out:?}");
}

/// `kyc-mesh rollout restart` of the basic scorer.
async fn rollout_restart_basic(mesh: &Mesh) {
    kyc(mesh, &["rollout", "restart", BASIC]).await;
}

/// Whether a plaintext `/readyz` on `port` is answered 200.
async fn plaintext_ready(port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/readyz");
    matches!(client().get(url).send().await, Ok(r) if r.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_mtls_strict_the_dashboard_shows_the_services_ready_also_after_a_rollout() {
    let envoy = require_envoy!();
    let port = free_port();
    let args = vec!["--dashboard-port".into(), port.to_string()];
    let mesh = start_mesh(envoy, args, false).await;
    assert!(plaintext_ready(mesh.basic).await, "PERMISSIVE at first");

    // `use mtls-strict`: the contract port (the sidecar's inbound) refuses plaintext.
    let out = mesh.use_scenario("mtls-strict");
    assert!(out.status.success(), "{out:?}");
    let basic = mesh.basic;
    poll_async("STRICT refusing plaintext", WAIT, || async {
        (!plaintext_ready(basic).await).then_some(())
    })
    .await;

    let view = poll_async(
        "the dashboard to show every service ready",
        WAIT,
        || async { dashboard_state(port).await.filter(all_ready) },
    )
    .await;
    assert!(all_ready(&view), "{view}");
    // Each workload's node is marked with its sidecar: ready, STRICT.
    let sidecars = poll_async(
        "each workload node marked with its sidecar, ready, STRICT",
        WAIT,
        || async {
            let v = dashboard_state(port).await?;
            let marked: Vec<Value> = v["nodes"]
                .as_array()?
                .iter()
                .filter_map(|n| n.get("sidecar").cloned())
                .collect();
            // The page follows the switch within a collection or two.
            let strict = marked
                .iter()
                .all(|s| s["ready"] == true && s["mtls"] == "STRICT");
            (marked.len() == 3 && strict).then_some(marked)
        },
    )
    .await;
    assert_eq!(sidecars.len(), 3, "{sidecars:?}");

    // A rollout moves the basic scorer to a new instance on another port: still ready.
    let before = instance_port(&mesh, BASIC).expect("basic's instance in the status file");
    rollout_restart_basic(&mesh).await;
    poll_async("basic on a new instance port", WAIT, || async {
        instance_port(&mesh, BASIC).filter(|p| *p != before)
    })
    .await;
    poll_async(
        "the dashboard to show every service ready again",
        WAIT,
        || async { dashboard_state(port).await.filter(all_ready) },
    )
    .await;
    drop(mesh);
}

/// Prometheus' active targets of `job` that are up.
async fn targets_up(port: u16, job: &str) -> Option<Vec<Value>> {
    let r = client()
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/targets?state=active"
        ))
        .send()
        .await
        .ok()?;
    let body: Value = r.json().await.ok()?;
    let all = body["data"]["activeTargets"].as_array()?.clone();
    let of_job: Vec<Value> = all
        .into_iter()
        .filter(|t| t["labels"]["job"] == job)
        .collect();
    of_job.iter().all(|t| t["health"] == "up").then_some(of_job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_mtls_strict_prometheus_scrapes_every_app_instance_and_sidecar() {
    let envoy = require_envoy!();
    let prometheus = prometheus_binary();
    let port = free_port();
    let args = vec![
        "--prometheus".into(),
        prometheus.display().to_string(),
        "--prometheus-port".into(),
        port.to_string(),
    ];
    let mesh = start_mesh(envoy, args, true).await;
    assert!(!plaintext_ready(mesh.basic).await, "STRICT from the start");
    let services = poll_async("the three kyc-services targets up", WAIT, || async {
        targets_up(port, "kyc-services")
            .await
            .filter(|t| t.len() == 3)
    })
    .await;
    let basic = services
        .iter()
        .find(|t| t["labels"]["app"] == BASIC)
        .expect("the basic scorer's target");
    assert_eq!(basic["labels"]["version"], "v1", "{basic}");
    assert_eq!(basic["labels"]["namespace"], "default", "{basic}");
    let instance = instance_port(&mesh, BASIC).expect("basic's instance");
    assert_eq!(
        basic["labels"]["instance"],
        format!("127.0.0.1:{instance}"),
        "scraped on the app instance, not the contract port"
    );
    let sidecars = poll_async("the three sidecar targets up", WAIT, || async {
        targets_up(port, "kyc-sidecars")
            .await
            .filter(|t| t.len() == 3)
    })
    .await;
    assert!(
        sidecars.iter().all(|t| t["labels"]["proxy"] == "sidecar"),
        "{sidecars:?}"
    );
    poll_async("the gateway's target up", WAIT, || async {
        targets_up(port, "envoy").await.filter(|t| t.len() == 1)
    })
    .await;

    // A rollout moves basic to a new instance port: Prometheus follows it (file_sd).
    rollout_restart_basic(&mesh).await;
    let moved = poll_async("basic on a new instance port", WAIT, || async {
        instance_port(&mesh, BASIC).filter(|p| *p != instance)
    })
    .await;
    poll_async("Prometheus scraping basic's new instance", WAIT, || async {
        let t = targets_up(port, "kyc-services").await?;
        let on_new = t.iter().any(|t| {
            t["labels"]["app"] == BASIC && t["labels"]["instance"] == format!("127.0.0.1:{moved}")
        });
        (t.len() == 3 && on_new).then_some(())
    })
    .await;
    drop(mesh);
}
