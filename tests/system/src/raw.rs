//! Raw TCP clients for the hostile-client tests: what a well-behaved HTTP client library will not do
//! (send half a request head, a head of 20 KB, hold connections idle).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::WAIT;

pub async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|_| panic!("connect to {addr} timed out"))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// The first line of a request head, and a `Host` header: the rest is up to the test.
pub fn head_start(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n")
}

pub async fn write(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
}

/// Reads one response head and returns its status code (`None`: the connection closed first).
/// Bodies of the answers these tests get are small and are left unread.
pub async fn read_status(stream: &mut TcpStream) -> Option<u16> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]);
            return head.split(' ').nth(1).and_then(|s| s.parse().ok());
        }
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no answer within {WAIT:?}"))
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        received.extend_from_slice(&buf[..n]);
    }
}

/// Sends a whole GET on a new connection and returns the status of the answer.
pub async fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = connect(addr).await;
    write(&mut stream, format!("{}\r\n", head_start(path)).as_bytes()).await;
    read_status(&mut stream).await
}

/// Waits until the server closes `stream` (EOF or reset), reading and dropping whatever it sends;
/// panics after [`WAIT`].
pub async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open for {WAIT:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
        }
    }
}
