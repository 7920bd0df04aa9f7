//! The control channel over a real Unix socket: a request reaches the loop and its answer
//! the client; unreadable requests, a second server and a stale socket.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use tokio::sync::broadcast;

use crate::ops::{self, MeshEvent, Op, Outcome};

use super::client::{call, subscribe, ClientError};
use super::event::Event;
use super::protocol::{Refusal, Request, Response};
use super::server::{ControlServer, ServerError};
use super::socket_path;

fn bus() -> broadcast::Sender<MeshEvent> {
    broadcast::channel(4).0
}

/// A server whose loop nobody answers.
async fn bind(dir: &std::path::Path, events: broadcast::Sender<MeshEvent>) -> ControlServer {
    let (calls, _rx) = ops::channel();
    ControlServer::bind(dir, calls, events).await.expect("bind")
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_request_reaches_the_loop_and_the_answer_the_client() {
    let dir = tempfile::tempdir().expect("tmp");
    let (calls, mut rx) = ops::channel();
    let _server = ControlServer::bind(dir.path(), calls, bus())
        .await
        .expect("bind");
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            let Op::RolloutRestart { service } = c.op else {
                continue;
            };
            let _ = c.reply.send(Outcome::done(format!("restarted {service}")));
        }
    });
    let request = Request::RolloutRestart {
        service: "kyc-credit-check-basic".into(),
    };
    let answer = call(dir.path(), request, WAIT).await.expect("answer");
    assert_eq!(answer, Response::done("restarted kyc-credit-check-basic"));
    // A line that is not a request: refused as such, the loop never sees it.
    let mut raw = UnixStream::connect(socket_path(dir.path()))
        .await
        .expect("connect");
    raw.write_all(b"{\"v\":1,\"request\":\"format-disk\"}\n")
        .await
        .expect("write");
    let mut line = String::new();
    BufReader::new(raw)
        .read_line(&mut line)
        .await
        .expect("read");
    let answer: Response = serde_json::from_str(&line).expect("json");
    assert!(
        matches!(
            answer,
            Response::Refused {
                reason: Refusal::BadRequest,
                ..
            }
        ),
        "{line}"
    );
}

#[tokio::test]
async fn a_second_server_is_refused_and_a_stale_socket_replaced() {
    let dir = tempfile::tempdir().expect("tmp");
    let first = bind(dir.path(), bus()).await;
    let (calls, _rx) = ops::channel();
    assert!(matches!(
        ControlServer::bind(dir.path(), calls, bus()).await,
        Err(ServerError::InUse(_))
    ));
    drop(first);
    assert!(!socket_path(dir.path()).exists(), "removed when dropped");
    // A socket file nobody answers on (an `up` that was killed): replaced.
    let stale = std::os::unix::net::UnixListener::bind(socket_path(dir.path())).expect("bind");
    drop(stale);
    let _server = bind(dir.path(), bus()).await;
    let empty = tempfile::tempdir().expect("tmp");
    let request = Request::RolloutRestart {
        service: "x".into(),
    };
    assert!(matches!(
        call(empty.path(), request, WAIT).await,
        Err(ClientError::NoMesh { .. })
    ));
}

#[tokio::test]
async fn a_subscriber_gets_every_event_and_a_slow_one_is_dropped() {
    let dir = tempfile::tempdir().expect("tmp");
    let events = bus();
    let _server = bind(dir.path(), events.clone()).await;
    let mut sub = subscribe(dir.path()).await.expect("subscribe");
    let e = MeshEvent::EditRejected {
        error: "bad yaml".into(),
    };
    events.send(e).expect("a subscriber");
    let wire = Event::EditRejected {
        error: "bad yaml".into(),
    };
    assert_eq!(sub.next().await.expect("read"), Some(wire));
    // A subscriber that reads nothing while more than the bus holds is published: dropped
    // (its connection ends), and publishing never waited for it.
    let mut slow = subscribe(dir.path()).await.expect("subscribe");
    for i in 0..64 {
        let _ = events.send(MeshEvent::EditRejected {
            error: format!("e{i}"),
        });
    }
    let mut seen = 0;
    let ended = tokio::time::timeout(WAIT, async {
        while let Ok(Some(_)) = slow.next().await {
            seen += 1;
        }
    })
    .await;
    assert!(ended.is_ok(), "the lagging subscriber's connection ends");
    assert!(seen < 64, "it did not get every event ({seen})");
}
