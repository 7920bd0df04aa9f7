//! A workload's HBONE listener (port 15008 in its pod): mTLS with the workload's certificate,
//! a client certificate from the mesh required; then HTTP/2, where each CONNECT is one
//! tunnel to the workload's app. A CONNECT is answered 400 when its authority is not this
//! workload's app, 401 when L4 AuthorizationPolicy denies the peer (as ztunnel answers),
//! 503 when the app refuses the connection; only a 200 carries bytes. A client that does
//! not speak TLS with a mesh certificate never reaches HTTP/2.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;

use crate::authz::{self, Verdict};
use crate::config::Inbound;
use crate::hbone::{baggage_workload, BAGGAGE};
use crate::metrics::{ConnLabels, Counted, DeniedLabels, Metrics, Reporter};
use crate::spiffe::SpiffeId;
use crate::tls;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a workload's HBONE listener knows; its app addresses and policies change with a
/// reload (`run.rs`), each connection reading them as they are when its CONNECT arrives.
pub struct InboundWorkload {
    pub workload: String,
    pub identity: SpiffeId,
    inbound: RwLock<Arc<Inbound>>,
    pub metrics: Arc<Metrics>,
    /// The tunnels open now: a policy change closes those it no longer allows, as ztunnel
    /// does (L4 policy holds for the life of a connection, not only its start).
    open: Mutex<BTreeMap<u64, OpenTunnel>>,
    next_id: AtomicU64,
}

/// One open tunnel: who and where, and how to close it.
struct OpenTunnel {
    peer: SpiffeId,
    port: u16,
    task: AbortHandle,
}

impl InboundWorkload {
    pub fn new(
        workload: String,
        identity: SpiffeId,
        inbound: Inbound,
        metrics: Arc<Metrics>,
    ) -> InboundWorkload {
        InboundWorkload {
            workload,
            identity,
            inbound: RwLock::new(Arc::new(inbound)),
            metrics,
            open: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// The app addresses and policies in force.
    pub fn inbound(&self) -> Arc<Inbound> {
        self.inbound
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// From now on, `inbound` (a reload): the open tunnels its policies deny are closed.
    pub fn set(&self, inbound: Inbound) {
        let policies = inbound.policies.clone();
        *self.inbound.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(inbound);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, t| {
            let verdict = authz::authorize(
                &policies,
                authz::Connection {
                    peer: &t.peer,
                    port: t.port,
                },
            );
            if verdict == Verdict::Allow {
                return true;
            }
            tracing::info!(workload = %self.workload, peer = t.peer.principal(), "open connection closed: AuthorizationPolicy denies it now");
            t.task.abort();
            false
        });
    }

    fn opened(&self, peer: &SpiffeId, port: u16, task: AbortHandle) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tunnel = OpenTunnel {
            peer: peer.clone(),
            port,
            task,
        };
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tunnel);
        id
    }

    fn closed(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, ctx: Arc<InboundWorkload>) {
    loop {
        let (tcp, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(workload = %ctx.workload, "HBONE accept: {e}");
                continue;
            }
        };
        let (acceptor, ctx) = (acceptor.clone(), ctx.clone());
        tokio::spawn(async move { connection(tcp, from, acceptor, ctx).await });
    }
}

async fn connection(
    tcp: TcpStream,
    from: SocketAddr,
    acceptor: TlsAcceptor,
    ctx: Arc<InboundWorkload>,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(workload = %ctx.workload, %from, "HBONE refused: mTLS handshake: {e}");
            return;
        }
        Err(_) => {
            tracing::info!(workload = %ctx.workload, %from, "HBONE refused: mTLS handshake timed out");
            return;
        }
    };
    let peer = match tls::peer_identity(tls.get_ref().1) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            tracing::info!(workload = %ctx.workload, %from, "HBONE refused: {e}");
            return;
        }
    };
    let service = service_fn(move |req| {
        let (ctx, peer) = (ctx.clone(), peer.clone());
        async move { Ok::<_, Infallible>(tunnel(req, &ctx, &peer).await) }
    });
    if let Err(e) = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%from, "HBONE connection ended: {e}");
    }
}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut r = Response::new(Empty::new());
    *r.status_mut() = code;
    r
}

/// One CONNECT: checked, authorized, then joined to the app.
async fn tunnel(
    mut req: Request<Incoming>,
    ctx: &Arc<InboundWorkload>,
    peer: &SpiffeId,
) -> Response<Empty<Bytes>> {
    if req.method() != Method::CONNECT {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let inbound = ctx.inbound();
    let target: Option<SocketAddr> = req.uri().authority().and_then(|a| a.as_str().parse().ok());
    let Some(target) = target.filter(|t| inbound.app.contains(t)) else {
        tracing::info!(workload = %ctx.workload, peer = peer.principal(), authority = ?req.uri().authority().map(|a| a.as_str()), "CONNECT refused: not this workload's address");
        return status(StatusCode::BAD_REQUEST);
    };
    let port = inbound.port.unwrap_or(target.port());
    let verdict = authz::authorize(&inbound.policies, authz::Connection { peer, port });
    if verdict != Verdict::Allow {
        let policy = match verdict {
            Verdict::DeniedBy(p) => p,
            _ => "no-allow-match".to_string(),
        };
        tracing::info!(workload = %ctx.workload, peer = peer.principal(), %policy, "connection denied by AuthorizationPolicy");
        ctx.metrics.denied(DeniedLabels {
            destination_workload: ctx.workload.clone(),
            source_principal: peer.principal().to_string(),
            policy,
        });
        return status(StatusCode::UNAUTHORIZED);
    }
    let app = match TcpStream::connect(target).await {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(workload = %ctx.workload, %target, "the app refused the connection: {e}");
            return status(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let _ = app.set_nodelay(true);
    let source_workload = req
        .headers()
        .get(BAGGAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(baggage_workload)
        .unwrap_or("unknown")
        .to_string();
    let labels = ConnLabels {
        source_workload,
        source_principal: peer.principal().to_string(),
        destination_workload: ctx.workload.clone(),
        destination_principal: ctx.identity.principal().to_string(),
        destination_service: "unknown".into(),
        ..ConnLabels::new(Reporter::Destination)
    };
    let conn = ctx.metrics.open(labels);
    let upgrade = hyper::upgrade::on(&mut req);
    let (owner, started) = (ctx.clone(), tokio::sync::oneshot::channel::<u64>());
    let task = tokio::spawn(async move {
        let id = started.1.await.ok();
        let tunnel = match upgrade.await {
            Ok(u) => Some(TokioIo::new(u)),
            Err(e) => {
                tracing::debug!("CONNECT upgrade: {e}");
                None
            }
        };
        if let Some(tunnel) = tunnel {
            let mut down = Counted::new(tunnel, conn.received.clone());
            let mut up = Counted::new(app, conn.sent.clone());
            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
        }
        drop(conn);
        if let Some(id) = id {
            owner.closed(id);
        }
    });
    let id = ctx.opened(peer, port, task.abort_handle());
    let _ = started.0.send(id);
    status(StatusCode::OK)
}
