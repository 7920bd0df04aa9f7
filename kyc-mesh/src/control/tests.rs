//! The control channel over a real Unix socket: a request reaches the loop and its answer
//! the client; unreadable requests, a second server and a stale socket.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::client::{call, ClientError};
use super::protocol::{Refusal, Request, Response};
use super::server::{ControlServer, ServerError};
use super::socket_path;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_request_reaches_the_loop_and_the_answer_the_client() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_server, mut calls) = ControlServer::bind(dir.path()).await.expect("bind");
    tokio::spawn(async move {
        while let Some(c) = calls.recv().await {
            let Request::RolloutRestart { service } = c.request;
            let _ = c.reply.send(Response::Done {
                message: format!("restarted {service}"),
            });
        }
    });
    let request = Request::RolloutRestart {
        service: "kyc-credit-check-basic".into(),
    };
    let answer = call(dir.path(), request, WAIT).await.expect("answer");
    assert_eq!(
        answer,
        Response::Done {
            message: "restarted kyc-credit-check-basic".into()
        }
    );
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
    let first = ControlServer::bind(dir.path()).await.expect("bind");
    assert!(matches!(
        ControlServer::bind(dir.path()).await,
        Err(ServerError::InUse(_))
    ));
    drop(first);
    assert!(!socket_path(dir.path()).exists(), "removed when dropped");
    // A socket file nobody answers on (an `up` that was killed): replaced.
    let stale = std::os::unix::net::UnixListener::bind(socket_path(dir.path())).expect("bind");
    drop(stale);
    let (_server, _calls) = ControlServer::bind(dir.path()).await.expect("rebind");
    let empty = tempfile::tempdir().expect("tmp");
    let request = Request::RolloutRestart {
        service: "x".into(),
    };
    assert!(matches!(
        call(empty.path(), request, WAIT).await,
        Err(ClientError::NoMesh { .. })
    ));
}
