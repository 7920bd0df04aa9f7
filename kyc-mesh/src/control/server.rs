//! The `up` side: listen on the socket, read one request per connection, hand it to the
//! main loop (as an `ops::Op`, through [`super::wire`]) and write its answer back; stream the
//! bus's events to `subscribe` connections.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;

use crate::ops::{Calls, MeshEvent};

use super::protocol::{Envelope, Refusal, Request, Response, VERSION};
use super::{socket_path, wire, MAX_LINE};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("another kyc-mesh up already answers on {0} (the same --state-dir); stop it or choose another state directory")]
    InUse(PathBuf),
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The listening socket; removed from the state directory when dropped.
pub(crate) struct ControlServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// How long a client may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one event line may take to reach a subscriber before it is dropped.
const EVENT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

impl ControlServer {
    /// Listen on `<state_dir>/control.sock`; requests go to `calls`, and `subscribe`
    /// connections receive what is published on `events`.
    pub(crate) async fn bind(
        state_dir: &Path,
        calls: Calls,
        events: broadcast::Sender<MeshEvent>,
    ) -> Result<Self, ServerError> {
        let path = socket_path(state_dir);
        let io = |source| ServerError::Io {
            path: path.clone(),
            source,
        };
        if path.exists() {
            if UnixStream::connect(&path).await.is_ok() {
                return Err(ServerError::InUse(path));
            }
            // A socket left by an `up` that was killed: nobody answers on it.
            std::fs::remove_file(&path).map_err(io)?;
        }
        let listener = UnixListener::bind(&path).map_err(io)?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_one(stream, calls.clone(), events.clone()));
            }
        });
        Ok(ControlServer { path, task })
    }
}

async fn serve_one(stream: UnixStream, calls: Calls, events: broadcast::Sender<MeshEvent>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_LINE));
    let read = tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await;
    let response = match read {
        Ok(Ok(_)) => match parse(&line) {
            Ok(Request::Subscribe) => {
                // Subscribed before the answer is written: no event after it is missed.
                let receiver = events.subscribe();
                if write_line(&mut write, &Response::done("subscribed")).await {
                    stream_events(&mut write, receiver).await;
                }
                return;
            }
            Ok(request) => match wire::op(request) {
                Ok(op) => match calls.ask(op).await {
                    Some(outcome) => wire::response(outcome),
                    None => return,
                },
                Err(refused) => refused,
            },
            Err(r) => r,
        },
        _ => bad_request("no request line within 5 s (or longer than 64 KiB)".into()),
    };
    write_line(&mut write, &response).await;
}

/// Write one JSON line; false when the peer is gone or too slow.
async fn write_line<T: serde::Serialize>(write: &mut OwnedWriteHalf, value: &T) -> bool {
    let Ok(mut text) = serde_json::to_string(value) else {
        return false;
    };
    text.push('\n');
    matches!(
        tokio::time::timeout(EVENT_WRITE_TIMEOUT, write.write_all(text.as_bytes())).await,
        Ok(Ok(()))
    )
}

/// Forward every event until the subscriber leaves, falls more than the bus's capacity
/// behind, or does not take a line within [`EVENT_WRITE_TIMEOUT`]: it is dropped, the mesh
/// never waits for it.
async fn stream_events(write: &mut OwnedWriteHalf, mut events: broadcast::Receiver<MeshEvent>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if !write_line(write, &wire::event(&event)).await {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => {
                return
            }
        }
    }
}

fn bad_request(message: String) -> Response {
    Response::Refused {
        reason: Refusal::BadRequest,
        message,
    }
}

fn parse(line: &str) -> Result<Request, Response> {
    let e: Envelope = serde_json::from_str(line.trim_end())
        .map_err(|e| bad_request(format!("unreadable request: {e}")))?;
    if e.v != VERSION {
        return Err(bad_request(format!(
            "protocol version {} (this kyc-mesh up speaks {VERSION})",
            e.v
        )));
    }
    Ok(e.request)
}
