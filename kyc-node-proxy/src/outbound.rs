//! A workload's outbound listener: plain TCP from its app (pointed at this address, as the
//! sidecars' outbound is: no traffic capture), carried over HBONE to the service's waypoint
//! when it has one (the CONNECT authority the service's `host:port`), else to one of its
//! endpoints, round robin (the authority the endpoint's address). An endpoint that cannot
//! be reached is skipped for the next; when none can, the app's connection is closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::config::{Peer, Service};
use crate::hbone::{HboneClient, HboneError, Tunnel};
use crate::metrics::{ConnLabels, Counted, Metrics, Reporter};
use crate::spiffe::SpiffeId;

pub struct OutboundListener {
    pub workload: String,
    pub identity: SpiffeId,
    pub service: Service,
    pub client: Arc<HboneClient>,
    pub metrics: Arc<Metrics>,
    next: AtomicUsize,
}

/// Where one connection goes.
struct Route<'a> {
    peer: &'a Peer,
    authority: String,
    workload: &'a str,
}

impl OutboundListener {
    pub fn new(
        workload: String,
        identity: SpiffeId,
        service: Service,
        client: Arc<HboneClient>,
        metrics: Arc<Metrics>,
    ) -> OutboundListener {
        OutboundListener {
            workload,
            identity,
            service,
            client,
            metrics,
            next: AtomicUsize::new(0),
        }
    }

    /// The routes to try, in order: the waypoint, or every endpoint starting at the next.
    fn routes(&self) -> Vec<Route<'_>> {
        if let Some(waypoint) = &self.service.waypoint {
            return vec![Route {
                peer: waypoint,
                authority: self.service.authority(),
                workload: "waypoint",
            }];
        }
        let n = self.service.endpoints.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.service.endpoints[(start + i) % n])
            .map(|e| Route {
                peer: &e.peer,
                authority: e.target.to_string(),
                workload: &e.workload,
            })
            .collect()
    }

    async fn open(&self) -> Result<(Tunnel, ConnLabels), HboneError> {
        let mut last = None;
        for route in self.routes() {
            match self.client.connect(route.peer, &route.authority).await {
                Ok(tunnel) => {
                    let labels = ConnLabels {
                        source_workload: self.workload.clone(),
                        source_principal: self.identity.principal().to_string(),
                        destination_workload: route.workload.to_string(),
                        destination_principal: route.peer.identity.principal().to_string(),
                        destination_service: self.service.host.clone(),
                        ..ConnLabels::new(Reporter::Source)
                    };
                    return Ok((tunnel, labels));
                }
                Err(e) => {
                    tracing::info!(workload = %self.workload, service = %self.service.host, "HBONE to {}: {e}", route.peer.hbone);
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(HboneError::NoEndpoint))
    }
}

pub async fn serve(listener: TcpListener, out: Arc<OutboundListener>) {
    loop {
        let (app, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(workload = %out.workload, "outbound accept: {e}");
                continue;
            }
        };
        let out = out.clone();
        tokio::spawn(async move { forward(app, &out).await });
    }
}

async fn forward(app: TcpStream, out: &OutboundListener) {
    let _ = app.set_nodelay(true);
    let (tunnel, labels) = match out.open().await {
        Ok(t) => t,
        Err(_) => return,
    };
    let conn = out.metrics.open(labels);
    let mut down = Counted::new(app, conn.received.clone());
    let mut up = Counted::new(tunnel, conn.sent.clone());
    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
}
