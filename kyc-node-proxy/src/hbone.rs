//! HBONE as istio.io specifies it: an HTTP/2 CONNECT over mutual TLS, the target in the
//! CONNECT authority, one TLS connection carrying many tunnels (one HTTP/2 stream each).
//! This file is the client: a pool of HTTP/2 connections, one per (peer, identity it must
//! present), and `connect`, which opens one tunnel. The server is `inbound.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::Peer;
use crate::tls::{self, Credentials, Trust};

/// A tunnel: bytes in both directions, as a TCP stream.
pub type Tunnel = TokioIo<hyper::upgrade::Upgraded>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The header ztunnel sends with a CONNECT to name the source workload (W3C baggage).
pub const BAGGAGE: &str = "baggage";

#[derive(Debug, thiserror::Error)]
pub enum HboneError {
    #[error("connecting to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("connecting to {0}: timed out")]
    Timeout(SocketAddr),
    #[error("mTLS with {0}: {1}")]
    Tls(SocketAddr, std::io::Error),
    #[error("HTTP/2 with {0}: {1}")]
    Http(SocketAddr, hyper::Error),
    #[error("the CONNECT authority {0:?}: {1}")]
    Authority(String, hyper::http::Error),
    #[error("{peer} refused CONNECT {authority}: {status}")]
    Refused {
        peer: SocketAddr,
        authority: String,
        status: StatusCode,
    },
    #[error("the service has no endpoint")]
    NoEndpoint,
    #[error("TLS configuration: {0}")]
    Config(#[from] tls::TlsError),
}

/// One workload's HBONE client.
pub struct HboneClient {
    trust: Trust,
    own: Credentials,
    /// The source workload, sent in `baggage` (the destination's `source_workload`).
    workload: String,
    pool: Mutex<HashMap<Peer, SendRequest<Empty<Bytes>>>>,
}

impl HboneClient {
    pub fn new(trust: Trust, own: Credentials, workload: String) -> HboneClient {
        HboneClient {
            trust,
            own,
            workload,
            pool: Mutex::default(),
        }
    }

    /// Open a tunnel to `authority` through `peer`, which must present `peer.identity`.
    pub async fn connect(&self, peer: &Peer, authority: &str) -> Result<Tunnel, HboneError> {
        let pooled = self.pooled(peer);
        let mut sender = match pooled {
            Some(s) => s,
            None => self.dial(peer).await?,
        };
        let request = || {
            Request::builder()
                .method(Method::CONNECT)
                .uri(authority)
                .header(BAGGAGE, format!("k8s.deployment.name={}", self.workload))
                .body(Empty::new())
                .map_err(|e| HboneError::Authority(authority.to_string(), e))
        };
        let response = match sender.send_request(request()?).await {
            Ok(r) => r,
            // A pooled connection the peer closed meanwhile: one new connection.
            Err(_) => {
                sender = self.dial(peer).await?;
                sender
                    .send_request(request()?)
                    .await
                    .map_err(|e| HboneError::Http(peer.hbone, e))?
            }
        };
        if response.status() != StatusCode::OK {
            return Err(HboneError::Refused {
                peer: peer.hbone,
                authority: authority.to_string(),
                status: response.status(),
            });
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| HboneError::Http(peer.hbone, e))?;
        Ok(TokioIo::new(upgraded))
    }

    fn pooled(&self, peer: &Peer) -> Option<SendRequest<Empty<Bytes>>> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        match pool.get(peer) {
            Some(s) if !s.is_closed() => Some(s.clone()),
            Some(_) => {
                pool.remove(peer);
                None
            }
            None => None,
        }
    }

    /// A new mTLS + HTTP/2 connection to `peer`, put in the pool.
    async fn dial(&self, peer: &Peer) -> Result<SendRequest<Empty<Bytes>>, HboneError> {
        let addr = peer.hbone;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| HboneError::Timeout(addr))?
            .map_err(|e| HboneError::Connect(addr, e))?;
        let _ = tcp.set_nodelay(true);
        let config = tls::client_config(&self.trust, &self.own, &peer.identity)?;
        let tls = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TlsConnector::from(config).connect(tls::server_name(addr), tcp),
        )
        .await
        .map_err(|_| HboneError::Timeout(addr))?
        .map_err(|e| HboneError::Tls(addr, e))?;
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| HboneError::Http(addr, e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %addr, "HBONE connection ended: {e}");
            }
        });
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer.clone(), sender.clone());
        Ok(sender)
    }
}

/// The source workload a CONNECT's `baggage` names, if any.
pub fn baggage_workload(value: &str) -> Option<&str> {
    value
        .split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "k8s.deployment.name")
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baggage_names_the_source_workload() {
        assert_eq!(
            baggage_workload("k8s.cluster.name=c, k8s.deployment.name=kyc-aggregator-mgt"),
            Some("kyc-aggregator-mgt")
        );
        assert_eq!(baggage_workload("other=1"), None);
    }
}
