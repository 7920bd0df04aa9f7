//! The dashboard and the local Prometheus of a mesh with sidecars under mTLS STRICT (real
//! services, real Envoys): the contract ports refuse plaintext, yet the dashboard shows every
//! service ready, asked on each app instance's own port, also after a `rollout restart`
//! moved an instance to a new port.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::http::client;
use crate::helpers::mesh::{Mesh, MeshSpec};
use crate::helpers::{free_port, kyc_mesh, poll_async, repo_networking, scenario, BASIC};
use crate::services::require_binaries;

const WAIT: Duration = Duration::from_secs(60);

async fn start_strict(envoy: PathBuf, up_args: Vec<String>) -> Mesh {
    require_binaries();
    tokio::task::spawn_blocking(move || {
        let networking = repo_networking();
        let strict = scenario("mtls-strict.yaml");
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &networking,
            scenario: Some(&strict),
            external: None,
            service_env: vec![],
            up_args,
        })
    })
    .await
    .expect("start")
}

async fn state(port: u16) -> Option<Value> {
    let r = client()
        .get(format!("http://127.0.0.1:{port}/api/state"))
        .send()
        .await
        .ok()?;
    r.json().await.ok()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_mtls_strict_the_dashboard_shows_the_services_ready_also_after_a_rollout() {
    let envoy = require_envoy!();
    let port = free_port();
    let mesh = start_strict(envoy, vec!["--dashboard-port".into(), port.to_string()]).await;

    // STRICT: the contract port (the sidecar's inbound) refuses a plaintext /readyz.
    let plaintext = client()
        .get(format!("http://127.0.0.1:{}/readyz", mesh.basic))
        .send()
        .await;
    assert!(
        !matches!(&plaintext, Ok(r) if r.status().is_success()),
        "plaintext must not pass STRICT: {plaintext:?}"
    );

    let view = poll_async(
        "the dashboard to show every service ready",
        WAIT,
        || async { state(port).await.filter(all_ready) },
    )
    .await;
    assert!(all_ready(&view), "{view}");

    // A rollout moves the basic scorer to a new instance on another port: still ready.
    let before = instance_port(&mesh, BASIC).expect("basic's instance in the status file");
    let state_dir = mesh.state_dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(kyc_mesh())
            .arg("--state-dir")
            .arg(&state_dir)
            .args(["rollout", "restart", BASIC])
            .output()
            .expect("rollout restart")
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{out:?}");
    poll_async("basic on a new instance port", WAIT, || async {
        instance_port(&mesh, BASIC).filter(|p| *p != before)
    })
    .await;
    poll_async(
        "the dashboard to show every service ready again",
        WAIT,
        || async { state(port).await.filter(all_ready) },
    )
    .await;
    drop(mesh);
}
