//! Hostile clients at each service, over real TCP on loopback: request heads over the limit (431),
//! slow-header clients (closed after `KYC_HEADER_READ_TIMEOUT_MS`, and a normal client is served
//! while they hang on), and the connection limit (`KYC_MAX_CONNECTIONS`).

use std::time::Duration;

use kyc_system_tests::raw::{
    closed_by_server, connect, get_status, head_start, read_status, write,
};
use kyc_system_tests::*;

/// The three services with the same extra settings (the aggregator's gateway is a closed port: these
/// tests only use its probes).
async fn each_service(vars: &[(&str, &str)]) -> Vec<(&'static str, Running)> {
    let gateway = format!("http://{}", closed_port().await);
    vec![
        ("kyc-aggregator-mgt", spawn_aggregator(&gateway, vars).await),
        ("kyc-credit-check-basic", spawn_basic(vars).await),
        ("kyc-credit-check-advanced", spawn_advanced(vars).await),
    ]
}

#[tokio::test]
async fn a_request_head_over_the_limit_is_a_431_at_each_service() {
    for (name, service) in each_service(&[("KYC_MAX_HEADER_BYTES", "4096")]).await {
        // Within the limit: served.
        let mut small = connect(service.addr).await;
        let head = format!(
            "{}x-pad: {}\r\n\r\n",
            head_start("/healthz"),
            "a".repeat(2000)
        );
        write(&mut small, head.as_bytes()).await;
        assert_eq!(
            read_status(&mut small).await,
            Some(200),
            "{name}: 2 KB head"
        );

        // 6 KB of headers (one large one, then many small ones): 431, then the connection closes.
        // (Over the limit but within hyper's 8 KB read buffer, so that the whole head is read and the
        // close is a FIN, not a reset racing the answer.)
        let large_one = format!(
            "{}x-pad: {}\r\n\r\n",
            head_start("/healthz"),
            "a".repeat(6000)
        );
        let many: String = (0..12)
            .map(|i| format!("x-pad-{i}: {}\r\n", "b".repeat(500)))
            .collect();
        let many = format!("{}{many}\r\n", head_start("/healthz"));
        for head in [large_one, many] {
            let mut stream = connect(service.addr).await;
            write(&mut stream, head.as_bytes()).await;
            assert_eq!(read_status(&mut stream).await, Some(431), "{name}");
            closed_by_server(&mut stream).await;
        }
        // The service is unharmed.
        assert_eq!(
            get_status(service.addr, "/healthz").await,
            Some(200),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_slow_header_connection_is_closed_after_the_timeout_at_each_service() {
    for (name, service) in each_service(&[("KYC_HEADER_READ_TIMEOUT_MS", "300")]).await {
        // Half a head, then nothing: closed by the server.
        let mut slow = connect(service.addr).await;
        write(&mut slow, head_start("/healthz").as_bytes()).await;
        closed_by_server(&mut slow).await;

        // A connection that never sends a byte is closed too (it would hold a permit for ever).
        let mut idle = connect(service.addr).await;
        closed_by_server(&mut idle).await;

        // A kept-alive connection is served, then closed once it idles past the timeout.
        let mut kept = connect(service.addr).await;
        write(
            &mut kept,
            format!("{}\r\n", head_start("/healthz")).as_bytes(),
        )
        .await;
        assert_eq!(read_status(&mut kept).await, Some(200), "{name}");
        closed_by_server(&mut kept).await;
    }
}

#[tokio::test]
async fn a_normal_client_is_served_while_slow_header_connections_hang_on() {
    const SLOW: usize = 200;
    for (name, service) in each_service(&[("KYC_HEADER_READ_TIMEOUT_MS", "60000")]).await {
        let mut slow = Vec::with_capacity(SLOW);
        for _ in 0..SLOW {
            let mut stream = connect(service.addr).await;
            write(&mut stream, head_start("/healthz").as_bytes()).await;
            slow.push(stream);
        }
        // One more byte each, as slowloris does, so that they are all surely accepted and waiting.
        for stream in &mut slow {
            write(stream, b"x-a").await;
        }
        let http = client();
        let probe = http
            .get(service.url("/readyz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: the normal client is not served: {e}"));
        assert_eq!(probe.status(), 200, "{name}");
        assert_eq!(
            get_status(service.addr, "/version").await,
            Some(200),
            "{name}"
        );
        drop(slow);
    }
}

#[tokio::test]
async fn past_the_connection_limit_new_clients_get_one_request_then_wait() {
    // KYC_MAX_CONNECTIONS=2: two kept alive, then 16 served one request each, then none.
    let service = spawn_basic(&[
        ("KYC_MAX_CONNECTIONS", "2"),
        ("KYC_HEADER_READ_TIMEOUT_MS", "60000"),
    ])
    .await;
    let overflow = kyc_common::connections::overflow(2);
    let request = format!("{}\r\n", head_start("/healthz"));
    // Two kept-alive connections, each answered once: both hold a permit.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(service.addr).await;
        write(&mut stream, request.as_bytes()).await;
        assert_eq!(read_status(&mut stream).await, Some(200));
        held.push(stream);
    }
    // A new client is still served (think of a kubelet probe), for one request only.
    let mut one_shot = connect(service.addr).await;
    write(&mut one_shot, request.as_bytes()).await;
    assert_eq!(read_status(&mut one_shot).await, Some(200));
    closed_by_server(&mut one_shot).await;

    // Slow-header clients take every one-request slot (each has 6 s, a tenth of the time limit)...
    let mut slow = Vec::new();
    for _ in 0..overflow {
        let mut stream = connect(service.addr).await;
        write(&mut stream, head_start("/healthz").as_bytes()).await;
        slow.push(stream);
    }
    // ...so the next client connects (the kernel completes the handshake) but is not served...
    let mut waiting = connect(service.addr).await;
    write(&mut waiting, request.as_bytes()).await;
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::io::AsyncReadExt::read(&mut waiting, &mut byte),
    )
    .await;
    assert!(
        early.is_err(),
        "a connection past both limits was answered at once"
    );
    // ...until a connection closes.
    drop(held.pop());
    assert_eq!(read_status(&mut waiting).await, Some(200));
    // The other kept-alive connection still works.
    let mut first = held.pop().expect("one left");
    write(
        &mut first,
        format!("{}\r\n", head_start("/version")).as_bytes(),
    )
    .await;
    assert_eq!(read_status(&mut first).await, Some(200));
    drop(slow);
}
