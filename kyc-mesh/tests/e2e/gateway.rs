//! The gateway's limits for hostile clients, on a real Envoy in front of stand-in backends:
//! oversized request headers get 431, a client that sends its headers too slowly is cut
//! off, connections above the limit are closed at once, and normal clients are served.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::backend::backends;
use crate::helpers::http::{client, get};
use crate::helpers::mesh::{Mesh, MeshSpec};
use crate::helpers::{poll_async, repo_networking};

/// Read until the gateway closes the connection (bounded); what it sent before closing.
async fn read_until_closed(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the gateway kept the connection open; got {got:?}"
    );
    String::from_utf8_lossy(&got).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_limits_slow_headers_and_connection_limit() {
    let envoy = require_envoy!();
    let b = backends().await;
    let networking = repo_networking();
    let ports = (b.agg.port, b.basic.port, b.advanced.port);
    let up_args = [
        "--gateway-max-header-kb=8",
        "--gateway-header-timeout-ms=300",
        "--gateway-max-connections=4",
        "--envoy-concurrency=1",
    ];
    let mesh = tokio::task::spawn_blocking(move || {
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &networking,
            scenario: None,
            external: Some(ports),
            service_env: vec![],
            up_args: up_args.iter().map(|s| s.to_string()).collect(),
        })
    })
    .await
    .expect("start");
    let c = client();
    let url = mesh.url("/credit-check/basic");
    assert_eq!(get(&c, &url, &[]).await.status, 200);
    // 1. Headers over the limit: 431, and the backend never sees the request.
    let hits = b.basic.hits();
    let big = "x".repeat(9 * 1024);
    let a = get(&c, &url, &[("x-big", &big)]).await;
    assert_eq!(a.status, 431, "{a:?}");
    assert_eq!(b.basic.hits(), hits);
    drop(c); // its pooled connection counts against the connection limit
             // 2. Slowloris: headers started, never finished → the gateway closes the connection.
    let mut slow = TcpStream::connect(("127.0.0.1", mesh.gateway))
        .await
        .expect("connect");
    slow.write_all(b"GET /credit-check/basic HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut slow).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // 3. Connection limit: with 4 held open, a 5th is closed at once.
    let active = format!("listener.127.0.0.1_{}.downstream_cx_active", mesh.gateway);
    poll_async("no connection left", Duration::from_secs(20), || async {
        (mesh.stat(&active).await == 0).then_some(())
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            TcpStream::connect(("127.0.0.1", mesh.gateway))
                .await
                .expect("connect"),
        );
    }
    poll_async("4 connections held", Duration::from_secs(20), || async {
        (mesh.stat(&active).await == 4).then_some(())
    })
    .await;
    let mut fifth = TcpStream::connect(("127.0.0.1", mesh.gateway))
        .await
        .expect("connect");
    let _ = fifth
        .write_all(b"GET /credit-check/basic HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut fifth).await;
    assert!(answer.is_empty(), "closed without an answer: {answer}");
    let overflow = format!(
        "listener.127.0.0.1_{}.downstream_global_cx_overflow",
        mesh.gateway
    );
    assert!(mesh.stat(&overflow).await >= 1);
    // Below the limit again, a normal client is served.
    drop(held);
    let c = client();
    poll_async(
        "served again below the limit",
        Duration::from_secs(20),
        || {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let status = c.get(&url).send().await.ok().map(|r| r.status().as_u16());
                (status == Some(200)).then_some(())
            }
        },
    )
    .await;
    // 4. A reload rebuilds the gateway's listener from a new translation: the limits stay.
    let out = mesh.use_scenario("canary-90-10");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = get(&c, &url, &[("x-big", &big)]).await;
    assert_eq!(a.status, 431, "after a reload: {a:?}");
}
