//! Ambient mode with the real service binaries and `kyc-node-proxy` (after `cargo build
//! --workspace --bins`): networking/scenarios/ambient.yaml's canary split 50/50 by the
//! waypoint Envoy, every hop between instances mTLS over HBONE through the node proxy, with
//! the SPIFFE identities on its counters; its HBONE ports refuse plaintext.

use std::io::{Read, Write};
use std::time::Duration;

use crate::canary::FAST;
use crate::helpers::http::{client, count, tally};
use crate::helpers::mesh::{cli, text, Mesh};
use crate::helpers::{poll_async, repo_networking};
use crate::helpers::{ADVANCED, BASIC};
use crate::services::start_real;

/// The port after `label` in `up`'s ambient line (`metrics http://127.0.0.1:PORT/…`).
fn port_after(mesh: &Mesh, label: &str) -> u16 {
    let out = mesh.output();
    let line = out
        .lines()
        .find(|l| l.contains("kyc-mesh: ambient:"))
        .unwrap_or_else(|| panic!("no ambient line:\n{out}"));
    let rest = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {line}"))
        + label.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a port after {label} in {line}"))
}

/// `kyc-mesh up --dataplane ambient` (networking/ with networking/scenarios/ambient.yaml) and
/// `extra` options, with the real services.
async fn start_ambient(envoy: std::path::PathBuf, extra: &[&str]) -> Mesh {
    let mut args = vec!["--dataplane".to_string(), "ambient".to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    start_real(envoy, repo_networking(), None, vec![], args).await
}

async fn metrics(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    match client().get(&url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambient_splits_the_canary_in_the_waypoint_over_hbone_between_node_proxies() {
    let envoy = require_envoy!();
    // `--dataplane ambient` alone: networking/ with networking/scenarios/ambient.yaml.
    let mut mesh = start_ambient(envoy, &[]).await;
    let out = mesh.output();
    assert!(out.contains("scenarios/ambient.yaml"), "{out}");
    assert!(out.contains("sidecars:            none"), "{out}");
    let node_admin = port_after(&mesh, "metrics http://127.0.0.1:");
    let waypoint_hbone = port_after(&mesh, "HBONE 127.0.0.1:");

    // The KYC API through the gateway: the aggregator's call to the scorer Service crosses
    // its node proxy, the waypoint (the HTTPRoute's 50/50) and the scorer's node proxy.
    let c = client();
    let url = mesh.url("/kyc/v1/customer?type=report");
    let seen = tally(&c, &url, 60, &[]).await;
    assert_eq!(
        count(&seen, BASIC) + count(&seen, ADVANCED),
        60,
        "every report scored: {seen:?}"
    );
    assert!(
        count(&seen, BASIC) >= 15 && count(&seen, ADVANCED) >= 15,
        "about 50/50: {seen:?}"
    );

    // The node proxy's counters: the aggregator → the waypoint, the waypoint → each scorer,
    // all mutual TLS between SPIFFE identities.
    let counters = poll_async("HBONE counters", Duration::from_secs(10), || async {
        let t = metrics(node_admin).await;
        let to_advanced = sample(
            &t,
            "istio_tcp_connections_opened_total",
            &[
                "reporter=\"destination\"",
                "source_principal=\"cluster.local/ns/default/sa/waypoint\"",
                "destination_principal=\"cluster.local/ns/default/sa/kyc-credit-check-advanced\"",
            ],
        );
        (to_advanced >= 1.0).then_some(t)
    })
    .await;
    let from_aggregator = [
        "reporter=\"source\"",
        "source_principal=\"cluster.local/ns/default/sa/kyc-aggregator-mgt\"",
        "destination_principal=\"cluster.local/ns/default/sa/waypoint\"",
        "destination_service=\"kyc-credit-check-basic.default.svc.cluster.local\"",
        "connection_security_policy=\"mutual_tls\"",
    ];
    assert!(
        sample(
            &counters,
            "istio_tcp_connections_opened_total",
            &from_aggregator
        ) >= 1.0,
        "{counters}"
    );
    assert!(
        sample(
            &counters,
            "istio_tcp_received_bytes_total",
            &from_aggregator
        ) > 0.0,
        "{counters}"
    );

    // Plaintext to the waypoint's HBONE port: no HTTP answer (the TLS handshake fails).
    let mut s = std::net::TcpStream::connect(("127.0.0.1", waypoint_hbone)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /credit-check/report HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        !String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"),
        "{buf:?}"
    );

    // Chaos reaches the instances as with sidecars: advanced answers 503 to every call, so
    // no report is scored by it; off again, it is back in the split.
    let chaos = cli(&mesh, &["chaos", ADVANCED, "--error-rate", "1"]).await;
    assert!(chaos.status.success(), "{}", text(&chaos));
    let broken = tally(&c, &url, 20, &[]).await;
    assert_eq!(count(&broken, ADVANCED), 0, "{broken:?}");
    assert!(count(&broken, BASIC) >= 1, "{broken:?}");
    let off = cli(&mesh, &["chaos", ADVANCED, "--off"]).await;
    assert!(off.status.success(), "{}", text(&off));
    let healed = tally(&c, &url, 30, &[]).await;
    assert!(count(&healed, ADVANCED) >= 3, "{healed:?}");

    // `curl --from` the aggregator: through its node proxy (its identity) and the waypoint.
    let url_report = "http://kyc-credit-check-basic:8080/credit-check/report?demo=alice";
    let mut scored_by = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let out = cli(&mesh, &["curl", "--from", crate::helpers::AGG, url_report]).await;
        let shown = text(&out);
        assert!(
            out.status.success() && shown.starts_with("HTTP 200"),
            "{shown}"
        );
        for s in [BASIC, ADVANCED] {
            if shown.contains(s) {
                scored_by.insert(s);
            }
        }
    }
    assert_eq!(
        scored_by.len(),
        2,
        "both scorers through the waypoint: {scored_by:?}"
    );
    let nowhere = cli(&mesh, &["curl", "--from", BASIC, url_report]).await;
    assert_eq!(nowhere.status.code(), Some(2), "{}", text(&nowhere));
    assert!(
        text(&nowhere).contains("through its node proxy"),
        "{}",
        text(&nowhere)
    );

    // `status`: every instance's HBONE port, the node proxy and the waypoint.
    let status = text(&cli(&mesh, &["status"]).await);
    for want in [
        "kyc-credit-check-basic-0",
        "ambient: HBONE :",
        "ambient:   node proxy node-1 (metrics :",
        "waypoint:  waypoint HBONE :",
        "as spiffe://cluster.local/ns/default/sa/waypoint",
    ] {
        assert!(status.contains(want), "{want}: {status}");
    }

    assert!(mesh.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataplane_ambient_without_an_ambient_namespace_starts_nothing() {
    let envoy = require_envoy!();
    let state = tempfile::tempdir().expect("tmp");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::helpers::kyc_mesh())
            .arg("--networking")
            .arg(repo_networking())
            .arg("--scenario")
            .arg(crate::helpers::scenario("canary-90-10.yaml"))
            .arg("--state-dir")
            .arg(state.path())
            .arg("--envoy")
            .arg(envoy)
            .args([
                "up",
                "--dataplane",
                "ambient",
                "--no-prometheus",
                "--no-dashboard",
            ])
            .output()
            .expect("kyc-mesh up")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--dataplane ambient: no workload is in the ambient data plane"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l4_deny_policy_is_enforced_by_the_node_proxy() {
    let envoy = require_envoy!();
    let networking = crate::helpers::networking_copy();
    std::fs::write(
        networking.path().join("zz-deny-waypoint-to-advanced.yaml"),
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: no-waypoint-to-advanced\nspec:\n  selector:\n    matchLabels:\n      app: kyc-credit-check-advanced\n  action: DENY\n  rules:\n    - from:\n        - source:\n            principals: [cluster.local/ns/default/sa/waypoint]\n",
    )
    .expect("write the policy");
    let mut mesh = start_real(
        envoy,
        networking.path().to_path_buf(),
        Some(crate::helpers::scenario("ambient.yaml")),
        vec![],
        vec![],
    )
    .await;
    let node_admin = port_after(&mesh, "metrics http://127.0.0.1:");
    let c = client();
    let seen = tally(&c, &mesh.url("/kyc/v1/customer?type=report"), 30, &[]).await;
    // The waypoint still splits, but advanced's node proxy refuses the waypoint's tunnels.
    assert_eq!(count(&seen, ADVANCED), 0, "{seen:?}");
    assert!(count(&seen, BASIC) >= 5, "{seen:?}");
    poll_async(
        "the node proxy's denials",
        Duration::from_secs(10),
        || async {
            let t = metrics(node_admin).await;
            let denied = sample(
                &t,
                "kyc_node_proxy_connections_denied_total",
                &[
                    "destination_workload=\"kyc-credit-check-advanced\"",
                    "source_principal=\"cluster.local/ns/default/sa/waypoint\"",
                    "policy=\"default/no-waypoint-to-advanced\"",
                ],
            );
            (denied >= 1.0).then_some(())
        },
    )
    .await;
    assert!(mesh.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_node_proxy_and_the_waypoint() {
    let envoy = require_envoy!();
    let prometheus = crate::prometheus::prometheus_binary();
    let port = crate::helpers::free_port();
    let mut mesh = start_ambient(
        envoy,
        &[
            "--prometheus",
            &prometheus.display().to_string(),
            "--prometheus-port",
            &port.to_string(),
        ],
    )
    .await;
    let c = client();
    let seen = tally(&c, &mesh.url("/kyc/v1/customer?type=report"), 10, &[]).await;
    assert_eq!(count(&seen, BASIC) + count(&seen, ADVANCED), 10, "{seen:?}");
    // Both targets up, and the node proxy's HBONE counters in Prometheus with their labels.
    let q = |promql: &'static str| {
        let c = c.clone();
        async move {
            crate::prometheus::query(&c, port, promql)
                .await
                .filter(|r| !r.is_empty())
        }
    };
    poll_async(
        "the node proxy's target up",
        Duration::from_secs(60),
        || q(r#"up{job="kyc-node-proxies",proxy="node-proxy"} == 1"#),
    )
    .await;
    poll_async("the waypoint's target up", Duration::from_secs(60), || {
        q(r#"up{job="kyc-sidecars",proxy="waypoint"} == 1"#)
    })
    .await;
    poll_async("HBONE connections in Prometheus", Duration::from_secs(60), || {
        q(r#"istio_tcp_connections_opened_total{reporter="destination",source_principal="cluster.local/ns/default/sa/waypoint",destination_workload="kyc-credit-check-advanced"} > 0"#)
    })
    .await;
    assert!(mesh.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l7_rule_attached_to_the_service_is_enforced_by_the_waypoint() {
    let envoy = require_envoy!();
    let networking = crate::helpers::networking_copy();
    // The aggregator may not ask the scorer Service for reports; someone else may not ask
    // for basic's own path: only the first matches the aggregator's calls.
    std::fs::write(
        networking.path().join("zz-waypoint-policy.yaml"),
        r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: no-reports-for-the-aggregator
spec:
  targetRefs:
    - kind: Service
      group: ""
      name: kyc-credit-check-basic
  action: DENY
  rules:
    - from:
        - source:
            principals: [cluster.local/ns/default/sa/kyc-aggregator-mgt]
      to:
        - operation:
            paths: [/credit-check/report]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: no-basic-for-someone-else
spec:
  targetRefs:
    - kind: Gateway
      group: gateway.networking.k8s.io
      name: waypoint
  action: DENY
  rules:
    - from:
        - source:
            principals: [cluster.local/ns/default/sa/someone-else]
      to:
        - operation:
            paths: [/credit-check/basic]
"#,
    )
    .expect("write the policies");
    let mut mesh = start_real(
        envoy,
        networking.path().to_path_buf(),
        Some(crate::helpers::scenario("ambient.yaml")),
        vec![],
        vec![],
    )
    .await;
    let from_aggregator = |path: &'static str| {
        let mesh = &mesh;
        async move {
            let url = format!("http://kyc-credit-check-basic:8080{path}");
            text(&cli(mesh, &["curl", "--from", crate::helpers::AGG, &url]).await)
        }
    };
    let denied = from_aggregator("/credit-check/report?demo=alice").await;
    assert!(
        denied.starts_with("HTTP 403") && denied.contains("RBAC: access denied"),
        "{denied}"
    );
    let allowed = from_aggregator("/credit-check/basic?demo=alice").await;
    assert!(allowed.starts_with("HTTP 200"), "{allowed}");
    // Through the KYC API the aggregator's report calls are refused by the waypoint too.
    let c = client();
    let seen = tally(&c, &mesh.url("/kyc/v1/customer?type=report"), 5, &[]).await;
    assert_eq!(count(&seen, BASIC) + count(&seen, ADVANCED), 0, "{seen:?}");
    assert!(mesh.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_carry_hbone_between_them() {
    let envoy = require_envoy!();
    let mut mesh = start_ambient(envoy, &["--nodes", "2"]).await;
    let node1 = port_after(&mesh, "node proxy node-1 (metrics http://127.0.0.1:");
    let node2 = port_after(&mesh, "node proxy node-2 (metrics http://127.0.0.1:");
    let c = client();
    let seen = tally(&c, &mesh.url("/kyc/v1/customer?type=report"), 40, &[]).await;
    assert!(
        count(&seen, BASIC) >= 8 && count(&seen, ADVANCED) >= 8,
        "{seen:?}"
    );
    // The instances are spread round robin (by workload name): the aggregator and basic on
    // node-1, advanced on node-2; each node proxy reports what it carried.
    let status = text(&cli(&mesh, &["status"]).await);
    assert!(status.contains("node proxy node-2 (metrics :"), "{status}");
    assert!(status.contains("(mTLS, node proxy node-2)"), "{status}");
    let opened = |t: &str, labels: &[&str]| sample(t, "istio_tcp_connections_opened_total", labels);
    poll_async("both nodes' counters", Duration::from_secs(10), || async {
        let (one, two) = (metrics(node1).await, metrics(node2).await);
        let from_aggregator = opened(
            &one,
            &[
                "reporter=\"source\"",
                "source_workload=\"kyc-aggregator-mgt\"",
            ],
        );
        let into_advanced = opened(
            &two,
            &[
                "reporter=\"destination\"",
                "destination_workload=\"kyc-credit-check-advanced\"",
            ],
        );
        let advanced_on_one = opened(
            &one,
            &["destination_workload=\"kyc-credit-check-advanced\""],
        );
        (from_aggregator >= 1.0 && into_advanced >= 1.0 && advanced_on_one == 0.0).then_some(())
    })
    .await;
    assert!(mesh.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_promotes_and_rolls_back_on_the_waypoints_route() {
    let envoy = require_envoy!();
    let mut mesh = start_ambient(envoy, &[]).await;
    let c = client();
    let url = mesh.url("/kyc/v1/customer?type=report");

    // A healthy canary: without --virtual-service it runs on the waypoint's HTTPRoute, reads
    // the waypoint's figures (the load goes gateway → aggregator → node proxy → waypoint) and
    // moves the HTTPRoute's weights live in the waypoint.
    let mut args = vec!["canary"];
    args.extend(FAST);
    args.extend(["--load", "40", "--write"]);
    let run = cli(&mesh, &args).await;
    let out = text(&run);
    assert_eq!(run.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "the canary runs on HTTPRoute kyc-credit-check-canary, rule credit-check-report"
        ),
        "{out}"
    );
    assert!(out.contains("PROMOTED"), "{out}");
    assert!(out.contains("canary 100%"), "{out}");
    assert!(out.contains(" 0 failed (0 of them injected"), "{out}");
    // --write edits VirtualServices only: refused, naming the HTTPRoute; the snippet to commit
    // is printed in the HTTPRoute's terms.
    assert!(
        out.contains("--write refused: kyc-credit-check-canary is an HTTPRoute"),
        "{out}"
    );
    assert!(
        out.contains("# HTTPRoute kyc-credit-check-canary, rule credit-check-report:"),
        "{out}"
    );
    let m = tally(&c, &url, 20, &[]).await;
    assert_eq!(
        count(&m, ADVANCED),
        20,
        "only the canary after the promotion: {m:?}"
    );
    let state = text(&cli(&mesh, &["canary", "status", "--json"]).await);
    assert!(
        state.contains("\"virtualService\": \"kyc-credit-check-canary\""),
        "{state}"
    );

    // Back to the files' 50/50, then a failing canary: rolled back, only the stable version.
    let clear = cli(
        &mesh,
        &[
            "weights",
            "--clear",
            "--http-route",
            "kyc-credit-check-canary",
        ],
    )
    .await;
    assert!(clear.status.success(), "{}", text(&clear));
    let chaos = cli(&mesh, &["chaos", ADVANCED, "--error-rate", "0.5"]).await;
    assert!(chaos.status.success(), "{}", text(&chaos));
    let mut args = vec!["canary"];
    args.extend(FAST);
    args.extend(["--load", "40", "--http-route", "kyc-credit-check-canary"]);
    let run = cli(&mesh, &args).await;
    let out = text(&run);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(out.contains("ROLLED BACK"), "{out}");
    assert!(out.contains("FAIL: success rate"), "{out}");
    // The weights to keep are the scenario's HTTPRoute's, named with its file.
    assert!(
        out.contains("set these weights in") && out.contains("scenarios/ambient.yaml"),
        "{out}"
    );
    let off = cli(&mesh, &["chaos", ADVANCED, "--off"]).await;
    assert!(off.status.success(), "{}", text(&off));
    let m = tally(&c, &url, 20, &[]).await;
    assert_eq!(
        count(&m, BASIC),
        20,
        "only the stable version after the rollback: {m:?}"
    );

    // A runtime override of the waypoint's rule by hand, checked like any: a wrong host is
    // named.
    let wrong = cli(
        &mesh,
        &[
            "weights",
            "--http-route",
            "kyc-credit-check-canary",
            "nope=100",
        ],
    )
    .await;
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    assert!(text(&wrong).contains("weights.nope"), "{}", text(&wrong));
    assert!(mesh.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_of_the_waypoints_route_and_of_l4_policy_apply_live_and_a_fixed_part_at_the_next_start(
) {
    let envoy = require_envoy!();
    let networking = crate::helpers::networking_copy();
    std::fs::create_dir_all(networking.path().join("scenarios")).expect("scenarios/");
    let scenario = networking.path().join("scenarios/ambient.yaml");
    let original =
        std::fs::read_to_string(crate::helpers::scenario("ambient.yaml")).expect("scenario");
    std::fs::write(&scenario, &original).expect("copy the scenario");
    let mut mesh = start_real(
        envoy,
        networking.path().to_path_buf(),
        Some(scenario.clone()),
        vec![],
        vec![],
    )
    .await;
    // The HTTPRoute's weights: the waypoint takes them at once (its routes are RDS).
    let moved =
        original
            .replacen("weight: 50", "weight: 0", 1)
            .replacen("weight: 50", "weight: 100", 1);
    assert_ne!(moved, original);
    std::fs::write(&scenario, &moved).expect("edit the weights");
    mesh.wait_output("configuration reloaded into Envoy");
    let m = tally(
        &client(),
        &mesh.url("/kyc/v1/customer?type=report"),
        20,
        &[],
    )
    .await;
    assert_eq!(
        count(&m, ADVANCED),
        20,
        "the edit is live in the waypoint: {m:?}"
    );
    // An L4 policy: the node proxies reload their configuration (SIGHUP), confirmed before
    // the generation is in force: the waypoint's tunnels to advanced are refused from now on.
    let policy = "\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: no-waypoint-to-advanced\nspec:\n  selector:\n    matchLabels:\n      app: kyc-credit-check-advanced\n  action: DENY\n  rules:\n    - from:\n        - source:\n            principals: [cluster.local/ns/default/sa/waypoint]\n";
    std::fs::write(&scenario, format!("{original}{policy}")).expect("add a policy");
    mesh.wait_output("kyc-mesh: configuration reloaded into Envoy\n");
    // The waypoint still splits; advanced's node proxy refuses its tunnels (and closed the
    // ones open when the policy came: the policy holds for open connections, as ztunnel's).
    let m = poll_async("the L4 DENY live", Duration::from_secs(10), || async {
        let m = tally(
            &client(),
            &mesh.url("/kyc/v1/customer?type=report"),
            10,
            &[],
        )
        .await;
        (count(&m, ADVANCED) == 0).then_some(m)
    })
    .await;
    assert!(count(&m, BASIC) >= 1, "{m:?}");
    // What is still fixed at start (a waypoint's RBAC): said, not dropped.
    let rbac = "\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: no-reports\nspec:\n  targetRefs:\n    - kind: Service\n      group: \"\"\n      name: kyc-credit-check-basic\n  action: DENY\n  rules:\n    - to:\n        - operation:\n            paths: [/nowhere]\n";
    std::fs::write(&scenario, format!("{original}{policy}{rbac}")).expect("add an L7 policy");
    mesh.wait_output("in ambient mode they are fixed at start");
    assert!(mesh.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_ambient_restarts_a_sidecar_mesh_into_ambient_mode_and_use_none_back() {
    let envoy = require_envoy!();
    // A sidecar mesh (networking/ alone: istio-injection on the namespace).
    let mut mesh = start_real(envoy, repo_networking(), None, vec![], vec![]).await;
    let c = client();
    let url = mesh.url("/kyc/v1/customer?type=report");
    let status = text(&cli(&mesh, &["status"]).await);
    assert!(!status.contains("node proxy"), "{status}");

    // `use ambient`: every instance restarts without its sidecar, as pods do in the cluster;
    // the command returns once the mesh runs the scenario.
    let switched = cli(&mesh, &["use", "ambient"]).await;
    let out = text(&switched);
    assert!(switched.status.success(), "{out}\n{}", mesh.output());
    assert!(
        out.contains("the mesh restarts every instance in it"),
        "{out}"
    );
    assert!(out.contains("now uses scenario"), "{out}");
    mesh.wait_output("starting again");
    let status = text(&cli(&mesh, &["status"]).await);
    for want in [
        "ambient:   node proxy node-1",
        "waypoint:  waypoint HBONE :",
    ] {
        assert!(status.contains(want), "{want}: {status}");
    }
    // The canary is split 50/50 by the waypoint, over HBONE between node proxies.
    let seen = tally(&c, &url, 40, &[]).await;
    assert_eq!(count(&seen, BASIC) + count(&seen, ADVANCED), 40, "{seen:?}");
    assert!(
        count(&seen, BASIC) >= 8 && count(&seen, ADVANCED) >= 8,
        "about 50/50 through the waypoint: {seen:?}"
    );

    // And back: `use none` restarts into sidecars again.
    let back = cli(&mesh, &["use", "none"]).await;
    assert!(back.status.success(), "{}\n{}", text(&back), mesh.output());
    let status = text(&cli(&mesh, &["status"]).await);
    assert!(!status.contains("node proxy"), "{status}");
    let seen = tally(&c, &url, 20, &[]).await;
    assert_eq!(count(&seen, BASIC) + count(&seen, ADVANCED), 20, "{seen:?}");
    assert!(mesh.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_restart_in_ambient_mode_fails_no_request() {
    let envoy = require_envoy!();
    let mut mesh = start_ambient(envoy, &[]).await;
    // The whole chain: gateway → aggregator → node proxy → waypoint → node proxy → scorer.
    let load =
        crate::helpers::load::Load::start(&vec![mesh.url("/kyc/v1/customer?type=report"); 4]);
    poll_async("load running", Duration::from_secs(20), || async {
        (load.len() > 20).then_some(())
    })
    .await;
    for service in [BASIC, ADVANCED, "kyc-aggregator-mgt"] {
        let out = cli(&mesh, &["rollout", "restart", service]).await;
        assert!(out.status.success(), "{}\n{}", text(&out), mesh.output());
        assert!(text(&out).contains("drained and stopped"), "{}", text(&out));
    }
    load.flows_on("load after the rollouts", 20).await;
    load.stop_without_failures("rollout restart in ambient mode", &mesh.output())
        .await;
    // Both scorers still answer through the waypoint, at their new processes.
    let m = tally(
        &client(),
        &mesh.url("/kyc/v1/customer?type=report"),
        30,
        &[],
    )
    .await;
    assert!(count(&m, BASIC) >= 5 && count(&m, ADVANCED) >= 5, "{m:?}");
    assert!(mesh.stop().success());
}

/// Requests each endpoint of the waypoint's cluster for `service` answered with success, by
/// endpoint (its `/clusters`: one line per host and counter).
async fn waypoint_hosts(admin: u16, service: &str) -> std::collections::BTreeMap<String, u64> {
    let url = format!("http://127.0.0.1:{admin}/clusters");
    let text = match client().get(&url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .filter(|l| l.starts_with(&format!("outbound|8080||{service}.")))
        .filter_map(|l| {
            let mut parts = l.split("::");
            let (_, host, stat, value) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            (stat == "rq_success").then(|| (host.to_string(), value.parse().unwrap_or(0)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_scale_up_and_down_behind_the_waypoint() {
    let envoy = require_envoy!();
    let networking = crate::helpers::networking_copy();
    let mut mesh = start_real(
        envoy,
        networking.path().to_path_buf(),
        Some(crate::helpers::scenario("ambient.yaml")),
        vec![],
        vec![],
    )
    .await;
    let waypoint_admin = port_after(&mesh, "admin http://127.0.0.1:");
    // Every report to advanced (a runtime override of the waypoint's rule).
    let to_advanced = cli(
        &mesh,
        &[
            "weights",
            "--http-route",
            "kyc-credit-check-canary",
            "0",
            "100",
        ],
    )
    .await;
    assert!(to_advanced.status.success(), "{}", text(&to_advanced));
    // replicas 1 → 2: the new instance gets its HBONE listener, then the waypoint's endpoint.
    let file = networking
        .path()
        .join("kyc-credit-check-advanced-k8-istio.yml");
    let yaml = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, yaml.replacen("replicas: 1", "replicas: 2", 1)).expect("write");
    mesh.wait_output("kyc-credit-check-advanced-1 started");
    let status = text(&cli(&mesh, &["status"]).await);
    assert!(status.contains("kyc-credit-check-advanced-1"), "{status}");
    let c = client();
    let url = mesh.url("/kyc/v1/customer?type=report");
    let m = tally(&c, &url, 40, &[]).await;
    assert_eq!(count(&m, ADVANCED), 40, "no failure while scaling: {m:?}");
    let hosts = waypoint_hosts(waypoint_admin, ADVANCED).await;
    assert_eq!(
        hosts.len(),
        2,
        "two endpoints behind the waypoint: {hosts:?}"
    );
    assert!(hosts.values().all(|n| *n >= 5), "both serve: {hosts:?}");
    // 2 → 1: the waypoint drops it first, then it drains, then its node proxy forgets it.
    std::fs::write(&file, yaml).expect("write");
    mesh.wait_output("kyc-credit-check-advanced-1 removed");
    let m = tally(&c, &url, 10, &[]).await;
    assert_eq!(count(&m, ADVANCED), 10, "{m:?}");
    let hosts = waypoint_hosts(waypoint_admin, ADVANCED).await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert!(mesh.stop().success());
}
