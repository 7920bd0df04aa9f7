//! Starting a node: every certificate loaded and every listener bound before anything is
//! served (an error names the workload and address), the admin port last.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::NodeConfig;
use crate::hbone::HboneClient;
use crate::inbound::{self, InboundWorkload};
use crate::metrics::Metrics;
use crate::outbound::{self, OutboundListener};
use crate::tls::{self, Credentials, TlsError, Trust};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{what}: {source}")]
    Tls {
        what: String,
        #[source]
        source: TlsError,
    },
    #[error("{what}: cannot listen on {addr}: {source}")]
    Bind {
        what: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A started node: its tasks run until it is dropped.
pub struct Node {
    pub metrics: Arc<Metrics>,
    tasks: JoinSet<()>,
}

async fn bind(what: String, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

impl Node {
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        let trust = Trust::load(&config.trust_root).map_err(|source| StartError::Tls {
            what: "trust_root".into(),
            source,
        })?;
        let metrics = Arc::new(Metrics::new());
        let mut tasks = JoinSet::new();
        for w in &config.workloads {
            let tls_error = |source| StartError::Tls {
                what: format!("workload {}", w.name),
                source,
            };
            let own = Credentials::load(&w.cert_chain, &w.key).map_err(tls_error)?;
            if let Some(inbound) = &w.inbound {
                let acceptor =
                    TlsAcceptor::from(tls::server_config(&trust, &own).map_err(tls_error)?);
                let listener = bind(format!("workload {} HBONE", w.name), inbound.hbone).await?;
                let ctx = Arc::new(InboundWorkload {
                    workload: w.workload.clone(),
                    identity: w.identity.clone(),
                    inbound: inbound.clone(),
                    metrics: metrics.clone(),
                });
                tasks.spawn(inbound::serve(listener, acceptor, ctx));
            }
            let client = Arc::new(HboneClient::new(
                trust.clone(),
                own.clone(),
                w.workload.clone(),
            ));
            for out in &w.outbound {
                let Some(service) = config.service(&out.service) else {
                    continue; // NodeConfig::read refused it already
                };
                let listener = bind(
                    format!("workload {} outbound to {}", w.name, out.service),
                    out.listen,
                )
                .await?;
                let out = Arc::new(OutboundListener::new(
                    w.workload.clone(),
                    w.identity.clone(),
                    service.clone(),
                    client.clone(),
                    metrics.clone(),
                ));
                tasks.spawn(outbound::serve(listener, out));
            }
        }
        let admin = bind("admin".into(), config.admin).await?;
        tasks.spawn(crate::admin::serve(
            admin,
            Arc::from(config.node.as_str()),
            metrics.clone(),
        ));
        Ok(Node { metrics, tasks })
    }

    /// Run until a task ends (none does unless it panics).
    pub async fn wait(mut self) {
        self.tasks.join_next().await;
    }
}
