//! Node proxies on loopback, in process: a mesh CA and SPIFFE certificates as kyc-mesh
//! issues them, echo apps, and real TCP/TLS/HTTP/2 between them.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::*;
use kyc_node_proxy::config::Peer;
use kyc_node_proxy::hbone::{HboneClient, HboneError};
use kyc_node_proxy::spiffe::SpiffeId;
use kyc_node_proxy::tls::{Credentials, Trust};
use kyc_node_proxy::{Node, NodeConfig};

/// Two nodes: node-1 runs the client (an outbound listener to the scorer service), node-2
/// runs basic and advanced, the service's two endpoints.
struct TwoNodes {
    ca: Ca,
    outbound: SocketAddr,
    admin1: SocketAddr,
    admin2: SocketAddr,
    basic_hbone: SocketAddr,
    basic_app: SocketAddr,
    basic_hits: Arc<AtomicUsize>,
    advanced_hits: Arc<AtomicUsize>,
    _nodes: (Node, Node),
}

/// `basic_policies`: the policies selecting basic; `basic_claims`: the identity node-1 is
/// told basic has (a wrong one must fail the handshake).
async fn two_nodes(basic_policies: Value, basic_claims: &str) -> TwoNodes {
    let ca = Ca::new();
    let (basic_app, basic_hits) = echo_app("basic").await;
    let (advanced_app, advanced_hits) = echo_app("advanced").await;
    let (basic_hbone, advanced_hbone, outbound, admin1, admin2) =
        (addr(), addr(), addr(), addr(), addr());
    let (cc, ck) = ca.issue(CLIENT, &spiffe(CLIENT));
    let (bc, bk) = ca.issue(BASIC, &spiffe(BASIC));
    let (ac, ak) = ca.issue(ADVANCED, &spiffe(ADVANCED));
    let service = json!({
        "host": "kyc-credit-check.default.svc.cluster.local", "port": 80,
        "endpoints": [
            {"target": basic_app, "workload": BASIC, "hbone": basic_hbone, "identity": basic_claims},
            {"target": advanced_app, "workload": ADVANCED, "hbone": advanced_hbone, "identity": spiffe(ADVANCED)},
        ]
    });
    let node1 = json!({
        "node": "node-1", "admin": admin1, "trust_root": ca.root(),
        "workloads": [{
            "name": format!("{CLIENT}-0"), "workload": CLIENT, "identity": spiffe(CLIENT),
            "cert_chain": cc, "key": ck,
            "outbound": [{"listen": outbound, "service": "kyc-credit-check.default.svc.cluster.local:80"}]
        }],
        "services": [service]
    });
    let node2 = json!({
        "node": "node-2", "admin": admin2, "trust_root": ca.root(),
        "workloads": [
            {"name": format!("{BASIC}-0"), "workload": BASIC, "identity": spiffe(BASIC), "cert_chain": bc, "key": bk,
             "inbound": {"hbone": basic_hbone, "app": [basic_app], "policies": basic_policies}},
            {"name": format!("{ADVANCED}-0"), "workload": ADVANCED, "identity": spiffe(ADVANCED), "cert_chain": ac, "key": ak,
             "inbound": {"hbone": advanced_hbone, "app": [advanced_app]}},
        ]
    });
    let n2 = start(node2, ca.dir.path(), "node-2").await;
    let n1 = start(node1, ca.dir.path(), "node-1").await;
    TwoNodes {
        ca,
        outbound,
        admin1,
        admin2,
        basic_hbone,
        basic_app,
        basic_hits,
        advanced_hits,
        _nodes: (n1, n2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbound_listener_reaches_both_endpoints_over_hbone_and_both_nodes_count() {
    let m = two_nodes(json!([]), &spiffe(BASIC)).await;
    let mut answers = Vec::new();
    for i in 0..4 {
        answers.push(
            exchange(m.outbound, &format!("ping{i}"))
                .await
                .expect("answer"),
        );
    }
    // Round robin over the two endpoints, each answer the app's own.
    assert!(
        answers
            .iter()
            .filter(|a| a.starts_with("basic:ping"))
            .count()
            == 2,
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .filter(|a| a.starts_with("advanced:ping"))
            .count()
            == 2,
        "{answers:?}"
    );
    assert_eq!(m.basic_hits.load(Ordering::SeqCst), 2);
    assert_eq!(m.advanced_hits.load(Ordering::SeqCst), 2);

    let source = [
        "reporter=\"source\"",
        "source_principal=\"cluster.local/ns/default/sa/kyc-aggregator-mgt\"",
        "destination_principal=\"cluster.local/ns/default/sa/kyc-credit-check-basic\"",
        "destination_service=\"kyc-credit-check.default.svc.cluster.local\"",
        "connection_security_policy=\"mutual_tls\"",
    ];
    let text = until_metrics(m.admin1, |t| {
        sample(t, "istio_tcp_connections_closed_total", &source) == 2.0
    })
    .await;
    assert_eq!(
        sample(&text, "istio_tcp_connections_opened_total", &source),
        2.0
    );
    // "ping0" (5 bytes) each way out, "basic:ping0" (11 bytes) back.
    assert_eq!(
        sample(&text, "istio_tcp_received_bytes_total", &source),
        10.0
    );
    assert_eq!(sample(&text, "istio_tcp_sent_bytes_total", &source), 22.0);
    let dest = [
        "reporter=\"destination\"",
        "source_workload=\"kyc-aggregator-mgt\"",
        "source_principal=\"cluster.local/ns/default/sa/kyc-aggregator-mgt\"",
        "destination_workload=\"kyc-credit-check-advanced\"",
    ];
    let text = until_metrics(m.admin2, |t| {
        sample(t, "istio_tcp_connections_closed_total", &dest) == 2.0
    })
    .await;
    assert_eq!(sample(&text, "istio_tcp_received_bytes_total", &dest), 10.0);
    assert!(text.ends_with("# EOF\n"), "OpenMetrics: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_presenting_another_identity_is_refused_by_the_client() {
    // Node-1 expects basic's endpoint to be "spiffe://…/sa/someone-else".
    let m = two_nodes(json!([]), &spiffe("someone-else")).await;
    for i in 0..4 {
        // Every connection ends at advanced: basic's handshake fails and is skipped.
        let answer = exchange(m.outbound, &format!("x{i}"))
            .await
            .expect("answer");
        assert!(answer.starts_with("advanced:"), "{answer}");
    }
    assert_eq!(m.basic_hits.load(Ordering::SeqCst), 0);
    // The HBONE client says why.
    let trust = Trust::load(&m.ca.root()).expect("trust");
    let (c, k) = m.ca.issue("probe", &spiffe(CLIENT));
    let client = HboneClient::new(
        trust,
        Credentials::load(c.as_ref(), k.as_ref()).expect("cred"),
        CLIENT.into(),
    );
    let peer = Peer {
        hbone: m.basic_hbone,
        identity: SpiffeId::parse(&spiffe("someone-else")).expect("id"),
    };
    let err = client
        .connect(&peer, &m.basic_app.to_string())
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, HboneError::Tls(..)), "{text}");
    assert!(
        text.contains("the server is spiffe://cluster.local/ns/default/sa/kyc-credit-check-basic, expected spiffe://cluster.local/ns/default/sa/someone-else"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_foreign_certificates_never_reach_the_app() {
    let m = two_nodes(json!([]), &spiffe(BASIC)).await;
    // Plaintext HTTP/1 and HTTP/2 prior knowledge to the HBONE port: no HTTP answer.
    for hello in [
        format!(
            "CONNECT {} HTTP/1.1\r\nHost: {}\r\n\r\n",
            m.basic_app, m.basic_app
        ),
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_string(),
    ] {
        let mut s = TcpStream::connect(m.basic_hbone).await.expect("connect");
        s.write_all(hello.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
        assert!(!String::from_utf8_lossy(&buf).contains("HTTP/"), "{buf:?}");
    }
    // A certificate from another CA.
    let other = Ca::new();
    let (c, k) = other.issue("intruder", &spiffe(CLIENT));
    let client = HboneClient::new(
        Trust::load(&m.ca.root()).expect("trust"),
        Credentials::load(c.as_ref(), k.as_ref()).expect("cred"),
        CLIENT.into(),
    );
    let peer = Peer {
        hbone: m.basic_hbone,
        identity: SpiffeId::parse(&spiffe(BASIC)).expect("id"),
    };
    assert!(client
        .connect(&peer, &m.basic_app.to_string())
        .await
        .is_err());
    assert_eq!(m.basic_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l4_policy_is_enforced_by_the_destination_node_proxy() {
    let (app, hits) = echo_app("basic").await;
    let ca = Ca::new();
    let (hbone, admin) = (addr(), addr());
    let (bc, bk) = ca.issue(BASIC, &spiffe(BASIC));
    let policies = json!([
        {"name": "default/deny-load", "action": "DENY",
         "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/load-generator"]}}]}]},
        {"name": "default/callers", "action": "ALLOW",
         "rules": [{"from": [{"source": {"namespaces": ["default"]}}],
                    "to": [{"operation": {"ports": [app.port().to_string()]}}]}]}
    ]);
    let node = json!({
        "node": "node-2", "admin": admin, "trust_root": ca.root(),
        "workloads": [{"name": "b-0", "workload": BASIC, "identity": spiffe(BASIC), "cert_chain": bc, "key": bk,
                       "inbound": {"hbone": hbone, "app": [app], "policies": policies}}]
    });
    let _node = start(node, ca.dir.path(), "node").await;
    let peer = Peer {
        hbone,
        identity: SpiffeId::parse(&spiffe(BASIC)).expect("id"),
    };
    let target = app.to_string();
    // Allowed: the aggregator (namespace default, the app's port).
    let mut t = hbone_client(&ca, CLIENT)
        .connect(&peer, &target)
        .await
        .expect("allowed");
    t.write_all(b"hi").await.expect("write");
    let mut buf = [0u8; 64];
    let n = t.read(&mut buf).await.expect("read");
    assert_eq!(&buf[..n], b"basic:hi");
    // DENY by principal: 401, as ztunnel answers.
    let denied = hbone_client(&ca, "load-generator")
        .connect(&peer, &target)
        .await;
    assert!(
        matches!(denied, Err(HboneError::Refused { status, .. }) if status == 401),
        "{:?}",
        denied.err()
    );
    // Another namespace matches no ALLOW rule.
    let (c, k) = ca.issue("other-ns", "spiffe://cluster.local/ns/other/sa/x");
    let other = HboneClient::new(
        Trust::load(&ca.root()).expect("trust"),
        Credentials::load(c.as_ref(), k.as_ref()).expect("cred"),
        "x".into(),
    );
    assert!(
        matches!(other.connect(&peer, &target).await, Err(HboneError::Refused { status, .. }) if status == 401)
    );
    // A target that is not this workload's app: 400.
    let wrong = hbone_client(&ca, CLIENT)
        .connect(&peer, "127.0.0.1:1")
        .await;
    assert!(matches!(wrong, Err(HboneError::Refused { status, .. }) if status == 400));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "only the allowed tunnel reached the app"
    );
    let text = until_metrics(admin, |t| {
        sample(
            t,
            "kyc_node_proxy_connections_denied_total",
            &["policy=\"default/deny-load\""],
        ) == 1.0
    })
    .await;
    assert_eq!(
        sample(
            &text,
            "kyc_node_proxy_connections_denied_total",
            &[
                "policy=\"no-allow-match\"",
                "source_principal=\"cluster.local/ns/other/sa/x\""
            ]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_bad_configuration_names_its_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("node.json");
    let base = json!({"node": "n", "admin": "127.0.0.1:1", "trust_root": "/x",
        "workloads": [{"name": "a", "workload": "a", "identity": "spiffe://cluster.local/ns/default/sa/a",
            "cert_chain": "/c", "key": "/k", "outbound": [{"listen": "127.0.0.1:2", "service": "nope:80"}]}]});
    std::fs::write(&path, base.to_string()).expect("write");
    let err = NodeConfig::read(&path).expect_err("refused").to_string();
    assert!(
        err.contains("workloads[0].outbound[0].service: no service \"nope:80\""),
        "{err}"
    );
    let mut bad = base.clone();
    bad["workloads"][0]["identity"] = json!("cluster.local/ns/default/sa/a");
    std::fs::write(&path, bad.to_string()).expect("write");
    let err = NodeConfig::read(&path).expect_err("refused").to_string();
    assert!(
        err.contains("workloads[0].identity") && err.contains("is not a SPIFFE ID"),
        "{err}"
    );
    let mut unknown = base;
    unknown["workloads"][0]["sidecar"] = json!(true);
    std::fs::write(&path, unknown.to_string()).expect("write");
    let err = NodeConfig::read(&path).expect_err("refused").to_string();
    assert!(err.contains("unknown field `sidecar`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_the_app_changes_policies_adds_and_removes_workloads_or_changes_nothing() {
    let ca = Ca::new();
    let (app1, _) = echo_app("old").await;
    let (app2, _) = echo_app("new").await;
    let (hbone, hbone2, admin) = (addr(), addr(), addr());
    let (bc, bk) = ca.issue(BASIC, &spiffe(BASIC));
    let (ac, ak) = ca.issue(ADVANCED, &spiffe(ADVANCED));
    let basic = |app: Vec<SocketAddr>, policies: Value| {
        json!({"name": "b-0", "workload": BASIC, "identity": spiffe(BASIC), "cert_chain": bc, "key": bk,
               "inbound": {"hbone": hbone, "app": app, "policies": policies}})
    };
    let config = |workloads: Vec<Value>| json!({"node": "node-1", "admin": admin, "trust_root": ca.root(), "workloads": workloads});
    let read = |v: Value, name: &str| {
        let path = ca.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, v.to_string()).expect("write");
        NodeConfig::read(&path).expect("config")
    };
    let mut node = start(
        config(vec![basic(vec![app1], json!([]))]),
        ca.dir.path(),
        "n",
    )
    .await;
    let peer = |hbone| Peer {
        hbone,
        identity: SpiffeId::parse(&spiffe(BASIC)).expect("id"),
    };
    let says = |client: HboneClient, to: SocketAddr, target: SocketAddr| async move {
        let mut t = client.connect(&peer(to), &target.to_string()).await?;
        t.write_all(b"hi")
            .await
            .map_err(|e| HboneError::Connect(to, e))?;
        let mut buf = [0u8; 64];
        let n = t
            .read(&mut buf)
            .await
            .map_err(|e| HboneError::Connect(to, e))?;
        Ok::<_, HboneError>(String::from_utf8_lossy(&buf[..n]).to_string())
    };
    assert_eq!(
        says(hbone_client(&ca, CLIENT), hbone, app1)
            .await
            .expect("old app"),
        "old:hi"
    );
    // Both apps while a new process takes over (a rollout), then the new one alone, with a
    // DENY policy now: the same listener, what it serves changed.
    node.reload(read(config(vec![basic(vec![app1, app2], json!([]))]), "n"))
        .await
        .expect("both");
    assert_eq!(
        says(hbone_client(&ca, CLIENT), hbone, app2)
            .await
            .expect("new app"),
        "new:hi"
    );
    // A tunnel open before the policy changes, allowed now.
    let mut held = hbone_client(&ca, "load-generator")
        .connect(&peer(hbone), &app2.to_string())
        .await
        .expect("allowed before the policy");
    held.write_all(b"1").await.expect("write");
    let mut buf = [0u8; 16];
    assert!(held.read(&mut buf).await.expect("echo") > 0);
    let deny = json!([{"name": "default/deny-load", "action": "DENY",
        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/load-generator"]}}]}]}]);
    node.reload(read(config(vec![basic(vec![app2], deny.clone())]), "n"))
        .await
        .expect("new only");
    // The policy holds for open connections too (as ztunnel's): the held tunnel is closed.
    let closed = tokio::time::timeout(Duration::from_secs(10), held.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the denied tunnel is closed: {closed:?}"
    );
    let gone = says(hbone_client(&ca, CLIENT), hbone, app1).await;
    assert!(
        matches!(gone, Err(HboneError::Refused { status, .. }) if status == 400),
        "the old app is not a target any more: {gone:?}"
    );
    let denied = says(hbone_client(&ca, "load-generator"), hbone, app2).await;
    assert!(
        matches!(denied, Err(HboneError::Refused { status, .. }) if status == 401),
        "{denied:?}"
    );
    // A workload added listens; a reload that cannot bind changes nothing.
    let advanced = json!({"name": "a-0", "workload": ADVANCED, "identity": spiffe(ADVANCED),
        "cert_chain": ac, "key": ak, "inbound": {"hbone": hbone2, "app": [app1]}});
    node.reload(read(
        config(vec![basic(vec![app2], deny.clone()), advanced.clone()]),
        "n",
    ))
    .await
    .expect("added");
    let to_advanced = Peer {
        hbone: hbone2,
        identity: SpiffeId::parse(&spiffe(ADVANCED)).expect("id"),
    };
    let mut t = hbone_client(&ca, CLIENT)
        .connect(&to_advanced, &app1.to_string())
        .await
        .expect("the added workload");
    t.write_all(b"x").await.expect("write");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut clash = advanced.clone();
    clash["name"] = json!("a-1");
    clash["inbound"]["hbone"] = json!(busy.local_addr().expect("addr"));
    let refused = node
        .reload(read(
            config(vec![basic(vec![app1], json!([])), advanced.clone(), clash]),
            "n",
        ))
        .await
        .expect_err("a taken address");
    assert!(
        refused.to_string().contains("cannot listen on"),
        "{refused}"
    );
    let still = says(hbone_client(&ca, "load-generator"), hbone, app2).await;
    assert!(
        matches!(still, Err(HboneError::Refused { status, .. }) if status == 401),
        "the last good configuration stays: {still:?}"
    );
    // A workload removed stops listening.
    node.reload(read(config(vec![basic(vec![app2], deny)]), "n"))
        .await
        .expect("removed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(hbone2).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "still listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = until_metrics(admin, |t| {
        sample(
            t,
            "kyc_node_proxy_config_reloads_total",
            &["outcome=\"applied\""],
        ) == 4.0
    })
    .await;
    assert_eq!(
        sample(
            &text,
            "kyc_node_proxy_config_reloads_total",
            &["outcome=\"rejected\""]
        ),
        1.0
    );
}
