//! A workload's outbound listener: plain TCP from its app (pointed at this address, as the
//! sidecars' outbound is: no traffic capture), carried over HBONE to the service's waypoint
//! when it has one (the CONNECT authority the service's `host:port`), else to one of its
//! endpoints, round robin (the authority the endpoint's address). An endpoint that cannot
//! be reached is skipped for the next; when none can, the app's connection is closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use tokio::net::{TcpListener, TcpStream};

use crate::config::{Peer, Service};
use crate::hbone::{HboneClient, HboneError, Tunnel};
use crate::metrics::{ConnLabels, Counted, Metrics, Reporter};
use crate::spiffe::SpiffeId;

pub struct OutboundListener {
    pub workload: String,
    pub identity: SpiffeId,
    /// The service as in force (a reload changes its endpoints or waypoint).
    service: RwLock<Arc<Service>>,
    pub client: Arc<HboneClient>,
    pub metrics: Arc<Metrics>,
    next: AtomicUsize,
}

/// Where one connection goes.
struct Route {
    peer: Peer,
    authority: String,
    workload: String,
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
            service: RwLock::new(Arc::new(service)),
            client,
            metrics,
            next: AtomicUsize::new(0),
        }
    }

    /// The service in force.
    pub fn service(&self) -> Arc<Service> {
        self.service
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// From now on, `service` (a reload).
    pub fn set_service(&self, service: Service) {
        *self.service.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(service);
    }

    /// The routes to try, in order: the waypoint, or every endpoint starting at the next.
    fn routes(&self, service: &Service) -> Vec<Route> {
        if let Some(waypoint) = &service.waypoint {
            return vec![Route {
                peer: waypoint.clone(),
                authority: service.authority(),
                workload: "waypoint".into(),
            }];
        }
        let n = service.endpoints.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &service.endpoints[(start + i) % n])
            .map(|e| Route {
                peer: e.peer.clone(),
                authority: e.target.to_string(),
                workload: e.workload.clone(),
            })
            .collect()
    }

    async fn open(&self) -> Result<(Tunnel, ConnLabels), HboneError> {
        let service = self.service();
        let mut last = None;
        for route in self.routes(&service) {
            match self.client.connect(&route.peer, &route.authority).await {
                Ok(tunnel) => {
                    let labels = ConnLabels {
                        source_workload: self.workload.clone(),
                        source_principal: self.identity.principal().to_string(),
                        destination_workload: route.workload.clone(),
                        destination_principal: route.peer.identity.principal().to_string(),
                        destination_service: service.host.clone(),
                        ..ConnLabels::new(Reporter::Source)
                    };
                    return Ok((tunnel, labels));
                }
                Err(e) => {
                    tracing::info!(workload = %self.workload, service = %service.host, "HBONE to {}: {e}", route.peer.hbone);
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
