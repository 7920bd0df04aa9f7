//! The command side: send one request to the running `up` and read its answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::event::Event;
use super::protocol::{Envelope, Request, Response, VERSION};
use super::{socket_path, MAX_LINE};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no kyc-mesh up is running with state directory {dir} (no answer on {socket}): start `kyc-mesh up` first, or pass the same --state-dir / --admin-port as the running one")]
    NoMesh { dir: PathBuf, socket: PathBuf },
    #[error("control socket {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("kyc-mesh up did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("unreadable answer from kyc-mesh up: {0}")]
    BadResponse(String),
}

/// Send `request` to the `up` using `state_dir` and wait up to `timeout` for its answer.
pub async fn call(
    state_dir: &Path,
    request: Request,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let (answer, _) = exchange(state_dir, request, timeout).await?;
    Ok(answer)
}

/// An open `subscribe` connection: [`Subscription::next`] yields the mesh's events.
pub struct Subscription {
    reader: BufReader<tokio::io::Take<UnixStream>>,
    socket: PathBuf,
}

impl Subscription {
    /// The next event; `None` when `up` closed the connection (it stopped, or dropped this
    /// subscriber for falling behind).
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        let mut line = String::new();
        loop {
            line.clear();
            // Events are bounded like requests; the limit is per line.
            self.reader.get_mut().set_limit(MAX_LINE);
            match self.reader.read_line(&mut line).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(ClientError::Io(self.socket.clone(), e)),
            }
            // An event this client does not know (a newer `up`) is skipped.
            if let Ok(event) = serde_json::from_str(line.trim_end()) {
                return Ok(Some(event));
            }
        }
    }
}

/// Subscribe to the events of the `up` using `state_dir`.
pub async fn subscribe(state_dir: &Path) -> Result<Subscription, ClientError> {
    let (answer, reader) = exchange(state_dir, Request::Subscribe, Duration::from_secs(10)).await?;
    match answer {
        Response::Done { .. } => Ok(Subscription {
            reader,
            socket: socket_path(state_dir),
        }),
        other => Err(ClientError::BadResponse(format!("{other:?}"))),
    }
}

async fn exchange(
    state_dir: &Path,
    request: Request,
    timeout: Duration,
) -> Result<(Response, BufReader<tokio::io::Take<UnixStream>>), ClientError> {
    let socket = socket_path(state_dir);
    let mut stream = UnixStream::connect(&socket)
        .await
        .map_err(|_| ClientError::NoMesh {
            dir: state_dir.to_path_buf(),
            socket: socket.clone(),
        })?;
    let mut line = serde_json::to_string(&Envelope {
        v: VERSION,
        request,
    })
    .map_err(|e| ClientError::BadResponse(e.to_string()))?;
    line.push('\n');
    let io = |e| ClientError::Io(socket.clone(), e);
    stream.write_all(line.as_bytes()).await.map_err(io)?;
    let mut answer = String::new();
    let mut reader = BufReader::new(stream.take(MAX_LINE));
    match tokio::time::timeout(timeout, reader.read_line(&mut answer)).await {
        Err(_) => Err(ClientError::TimedOut(timeout)),
        Ok(Err(e)) => Err(io(e)),
        Ok(Ok(0)) => Err(ClientError::BadResponse(
            "connection closed without an answer".into(),
        )),
        Ok(Ok(_)) => serde_json::from_str(answer.trim_end())
            .map(|r| (r, reader))
            .map_err(|e| ClientError::BadResponse(format!("{e}: {answer}"))),
    }
}
