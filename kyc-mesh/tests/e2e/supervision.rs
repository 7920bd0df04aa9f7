//! Kubelet-like supervision and `rollout restart` with the real service binaries: a killed
//! scorer comes back by itself and the gateway serves it again; a rollout restart under
//! load fails no request; the control channel's refusals.

use std::process::Command;
use std::time::Duration;

use crate::helpers::http::{client, get};
use crate::helpers::load::Load;
use crate::helpers::mesh::{alive, children, Mesh};
use crate::helpers::{kyc_mesh, poll_async, repo_networking, AGG, BASIC};
use crate::services::{cmdline, start_with};

fn pid_of(mesh: &Mesh, binary: &str) -> Option<u32> {
    children(mesh.pid())
        .into_iter()
        .find(|p| cmdline(*p).contains(binary) && alive(*p))
}

/// `kyc-mesh rollout restart SERVICE` against `mesh` (off the async runtime).
async fn rollout_restart(mesh: &Mesh, service: &str) -> std::process::Output {
    let state = mesh.state_dir.path().to_path_buf();
    let service = service.to_string();
    tokio::task::spawn_blocking(move || {
        Command::new(kyc_mesh())
            .arg("--state-dir")
            .arg(&state)
            .args(["rollout", "restart", &service])
            .output()
            .expect("rollout restart")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_scorer_is_restarted_and_served_again() {
    let envoy = require_envoy!();
    let mesh = start_with(envoy, repo_networking(), vec![], vec![]).await;
    let old = pid_of(&mesh, BASIC).expect("basic runs");
    // SAFETY: kill(2) on a child of our child.
    unsafe {
        libc::kill(old as i32, libc::SIGKILL);
    }
    mesh.wait_output(&format!("service {BASIC} exited"));
    mesh.wait_output("restarting in 1s (restart 1");
    let c = client();
    let url = mesh.url("/credit-check/basic");
    poll_async(
        "the gateway serving basic again",
        Duration::from_secs(30),
        || {
            let (c, url) = (c.clone(), url.clone());
            async move { (get(&c, &url, &[]).await.status == 200).then_some(()) }
        },
    )
    .await;
    mesh.wait_output(&format!("service {BASIC} restarted (restart 1"));
    let new = pid_of(&mesh, BASIC).expect("basic runs again");
    assert_ne!(new, old, "a new process");
    assert!(!alive(old));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_restart_under_load_fails_no_request() {
    let envoy = require_envoy!();
    let mesh = start_with(envoy, repo_networking(), vec![], vec![]).await;
    // Straight to the scorer through the gateway, and the whole chain through the gateway.
    let mut urls = vec![mesh.url("/credit-check/basic"); 2];
    urls.extend(vec![mesh.url("/kyc/v1/customer"); 2]);
    let load = Load::start(&urls);
    poll_async("load running", Duration::from_secs(20), || async {
        (load.len() > 20).then_some(())
    })
    .await;
    let old = pid_of(&mesh, BASIC).expect("basic runs");
    let out = rollout_restart(&mesh, BASIC).await;
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}\n{}", mesh.output());
    assert!(said.contains("drained and stopped"), "{said}");
    let new = pid_of(&mesh, BASIC).expect("basic runs");
    assert_ne!(new, old);
    assert!(!alive(old), "the old instance stopped");
    // The aggregator too: the gateway's route to it moves to the new instance.
    let out = rollout_restart(&mesh, AGG).await;
    assert!(out.status.success(), "{}", mesh.output());
    load.flows_on("load after the rollouts", 20).await;
    let what = format!("rollout restart of {BASIC} and {AGG} under load");
    load.stop_without_failures(&what, &mesh.output()).await;
    // The control channel's refusals: exit 2 with a clear message.
    let out = rollout_restart(&mesh, "kyc-nope").await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unknown service") && err.contains(BASIC),
        "{err}"
    );
}

#[test]
fn rollout_restart_without_a_running_mesh_is_exit_2() {
    let state = tempfile::tempdir().expect("tmp");
    let out = Command::new(kyc_mesh())
        .arg("--state-dir")
        .arg(state.path())
        .args(["rollout", "restart", BASIC])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no kyc-mesh up is running"), "{err}");
}
