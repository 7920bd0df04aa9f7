//! Sidecars with the real service binaries (after `cargo build --workspace --bins`): mTLS
//! between SPIFFE identities, PeerAuthentication, AuthorizationPolicy, `curl --from`,
//! `status`, live policy reload under load and mesh-bound routing in the caller's sidecar.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::helpers::http::{client, get};
use crate::helpers::load::Load;
use crate::helpers::mesh::{children, cli, text, Mesh};
use crate::helpers::{kyc_mesh, networking_copy, poll_async, repo_networking, scenario};
use crate::helpers::{ADVANCED, AGG, BASIC};
use crate::services::{start_real, start_with};

/// `kyc-mesh curl --from kyc-aggregator-mgt` straight to the basic scorer (not through the gateway).
async fn aggregator_calls_basic(mesh: &Mesh) -> Output {
    let url = "http://kyc-credit-check-basic:8080/credit-check/basic";
    cli(mesh, &["curl", "--from", AGG, url]).await
}

/// The URI SANs of the certificate served on a loopback port (openssl s_client + x509).
fn presented_spiffe(port: u16) -> String {
    let chain = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-alpn",
            "istio",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client (install openssl)");
    let pem = String::from_utf8_lossy(&chain.stdout).to_string();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl x509");
    use std::io::Write;
    x509.stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .expect("write");
    let out = x509.wait_with_output().expect("x509");
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn plaintext_status(port: u16) -> Option<u16> {
    let url = format!("http://127.0.0.1:{port}/credit-check/basic");
    client()
        .get(&url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_strict_gateway_chain_rbac_plaintext_refused_and_spiffe_certificates() {
    let envoy = require_envoy!();
    let mesh = start_real(
        envoy,
        repo_networking(),
        Some(scenario("mtls-strict.yaml")),
        vec![],
        vec![],
    )
    .await;
    let c = client();
    // The chain through the gateway: gateway → aggregator → its sidecar → gateway → scorer.
    for _ in 0..20 {
        let a = get(&c, &mesh.url("/kyc/v1/customer"), &[]).await;
        assert_eq!(a.status, 200, "{a:?}");
    }
    // The aggregator's identity may not call a scorer directly.
    let out = aggregator_calls_basic(&mesh).await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("403") && said.contains("RBAC: access denied"),
        "{said}"
    );
    // STRICT: a plaintext client gets no answer from a scorer's port.
    assert_eq!(
        plaintext_status(mesh.basic).await,
        None,
        "plaintext under STRICT"
    );
    // The scorer presents its SPIFFE identity.
    let basic = mesh.basic;
    let san = tokio::task::spawn_blocking(move || presented_spiffe(basic))
        .await
        .expect("join");
    assert!(
        san.contains("URI:spiffe://cluster.local/ns/default/sa/kyc-credit-check-basic"),
        "{san}"
    );
    let status = text(&cli(&mesh, &["status"]).await);
    assert!(
        status.contains("(STRICT)") && status.contains("mesh CA:"),
        "{status}"
    );
    // PERMISSIVE (networking/ alone): plaintext accepted again.
    let out = mesh.use_scenario("none");
    assert!(out.status.success(), "{}", text(&out));
    poll_async(
        "plaintext accepted under PERMISSIVE",
        Duration::from_secs(20),
        || async { (plaintext_status(basic).await == Some(200)).then_some(()) },
    )
    .await;
    let out = aggregator_calls_basic(&mesh).await;
    assert!(text(&out).contains("HTTP 200"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_reload_under_load_fails_no_request() {
    let envoy = require_envoy!();
    let mesh = start_with(envoy, repo_networking(), vec![], vec![]).await;
    let load = Load::start(&vec![mesh.url("/kyc/v1/customer"); 4]);
    let mut last = load.len();
    for s in ["mtls-strict", "none", "mtls-strict", "none"] {
        let out = mesh.use_scenario(s);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("now uses"), "{}", text(&out));
        // Traffic keeps flowing between switches.
        poll_async(
            "requests after the switch",
            Duration::from_secs(20),
            || async { (load.len() >= last + 20).then_some(()) },
        )
        .await;
        last = load.len();
    }
    let sent = load
        .stop_without_failures("policy switches under load", "")
        .await;
    assert!(sent >= 80, "only {sent} requests");
}

const MESH_VS: &str = "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: basic-in-the-mesh
spec:
  hosts: [kyc-credit-check-basic]
  http:
  - route:
    - destination: {host: kyc-credit-check-advanced, subset: v2}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_virtual_service_changes_the_aggregators_outbound_routing() {
    let envoy = require_envoy!();
    let dir = networking_copy();
    let mesh = start_with(envoy, dir.path().to_path_buf(), vec![], vec![]).await;
    let served = |out: &Output| {
        let body = String::from_utf8_lossy(&out.stdout).to_string();
        [BASIC, ADVANCED]
            .into_iter()
            .find(|s| body.contains(&format!("\"service\":\"{s}\"")))
            .map(String::from)
    };
    let url = "http://kyc-credit-check-basic:8080/credit-check/report";
    let out = cli(&mesh, &["curl", "--from", AGG, url]).await;
    assert_eq!(served(&out).as_deref(), Some(BASIC), "{}", text(&out));
    std::fs::write(dir.path().join("basic-in-the-mesh.yaml"), MESH_VS).expect("write");
    poll_async(
        "the aggregator's sidecar routes basic to advanced",
        Duration::from_secs(20),
        || async {
            let out = cli(&mesh, &["curl", "--from", AGG, url]).await;
            (served(&out).as_deref() == Some(ADVANCED)).then_some(())
        },
    )
    .await;
    // The gateway is not bound to `mesh`: its own route to basic is unchanged.
    let a = get(&client(), &mesh.url("/credit-check/basic"), &[]).await;
    assert_eq!(a.served_by.as_deref(), Some(BASIC), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sidecars_keeps_the_edge_only_mesh_and_curl_from_explains() {
    let envoy = require_envoy!();
    let mesh = start_with(
        envoy,
        repo_networking(),
        vec![],
        vec!["--no-sidecars".into()],
    )
    .await;
    assert_eq!(
        children(mesh.pid()).len(),
        4,
        "three services and the gateway"
    );
    let status = text(&cli(&mesh, &["status"]).await);
    assert!(
        status.contains("no sidecar") && status.contains("edge only"),
        "{status}"
    );
    let out = cli(
        &mesh,
        &["curl", "--from", AGG, "http://kyc-credit-check-basic:8080/"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = cli(&mesh, &["curl", "--from", "nobody", "http://x/"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains(BASIC),
        "names the known workloads: {}",
        text(&out)
    );
    assert_eq!(plaintext_status(mesh.basic).await, Some(200));
    drop(mesh);
    // No mesh: exit 2.
    let state = tempfile::tempdir().expect("tmp");
    let out = Command::new(kyc_mesh())
        .arg("--state-dir")
        .arg(state.path())
        .args(["curl", "--from", AGG, "http://x/"])
        .output()
        .expect("curl");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let _ = Path::new("");
}
