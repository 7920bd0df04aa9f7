//! The command side: send one request to the running `up` and read its answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

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
            .map_err(|e| ClientError::BadResponse(format!("{e}: {answer}"))),
    }
}
