//! Starting a node: every certificate loaded and every listener bound before anything is
//! served (an error names the workload and address), the admin port last. Reloading it
//! (SIGHUP, `main.rs`): the new configuration's listeners that do not exist yet are bound
//! first (any error: nothing changes, the last good configuration stays), then the ones that
//! stay take their new app addresses, policies and services (each connection reads them as
//! they are when it starts; connections already open are left alone), and the ones gone stop.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::config::{NodeConfig, Workload};
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
    #[error("the admin address cannot change on a reload ({was} → {now})")]
    AdminMoved { was: SocketAddr, now: SocketAddr },
}

/// Who a listener serves: a listener whose workload keeps its name, identity and
/// certificate files is kept on a reload (only what it serves changes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    name: String,
    workload: String,
    identity: String,
    cert_chain: PathBuf,
    key: PathBuf,
}

impl Owner {
    fn of(w: &Workload) -> Owner {
        Owner {
            name: w.name.clone(),
            workload: w.workload.clone(),
            identity: w.identity.uri().to_string(),
            cert_chain: w.cert_chain.clone(),
            key: w.key.clone(),
        }
    }
}

/// A listener that serves, and what it serves (changed in place on a reload).
struct Listening<T> {
    owner: Owner,
    ctx: Arc<T>,
    task: AbortHandle,
}

/// A started node: its tasks run until it is dropped.
pub struct Node {
    pub metrics: Arc<Metrics>,
    trust: Trust,
    admin: SocketAddr,
    /// By HBONE address.
    inbound: BTreeMap<SocketAddr, Listening<InboundWorkload>>,
    /// By listen address.
    outbound: BTreeMap<SocketAddr, Listening<OutboundListener>>,
    tasks: JoinSet<()>,
}

async fn bind(what: String, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

/// Stop the listeners of `listening` whose address is not in `kept`.
fn stop_all_but<T>(
    listening: &mut BTreeMap<SocketAddr, Listening<T>>,
    kept: &BTreeSet<SocketAddr>,
) {
    listening.retain(|addr, l| {
        let keep = kept.contains(addr);
        if !keep {
            l.task.abort();
        }
        keep
    });
}

/// `addr` is served by another workload of this node (a reload cannot hand it over).
fn taken(what: String, addr: SocketAddr) -> StartError {
    StartError::Bind {
        what,
        addr,
        source: std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another workload of this node listens there",
        ),
    }
}

/// A listener bound for a reload, not serving yet.
enum Pending {
    Inbound(TcpListener, TlsAcceptor, Arc<InboundWorkload>, Owner),
    Outbound(TcpListener, Arc<OutboundListener>, Owner),
}

impl Node {
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        let trust = Trust::load(&config.trust_root).map_err(|source| StartError::Tls {
            what: "trust_root".into(),
            source,
        })?;
        let mut node = Node {
            metrics: Arc::new(Metrics::new()),
            trust,
            admin: config.admin,
            inbound: BTreeMap::new(),
            outbound: BTreeMap::new(),
            tasks: JoinSet::new(),
        };
        let pending = node.prepare(&config).await?;
        node.serve(pending);
        let admin = bind("admin".into(), config.admin).await?;
        node.tasks.spawn(crate::admin::serve(
            admin,
            Arc::from(config.node.as_str()),
            node.metrics.clone(),
        ));
        Ok(node)
    }

    /// Apply `config` to the running node (counted in `kyc_node_proxy_config_reloads_total`).
    /// Err: nothing changed.
    pub async fn reload(&mut self, config: NodeConfig) -> Result<(), StartError> {
        let result = self.try_reload(config).await;
        self.metrics.reloaded(result.is_ok());
        result
    }

    async fn try_reload(&mut self, config: NodeConfig) -> Result<(), StartError> {
        if config.admin != self.admin {
            return Err(StartError::AdminMoved {
                was: self.admin,
                now: config.admin,
            });
        }
        let pending = self.prepare(&config).await?;
        // Kept listeners take what they serve now; the others stop.
        let mut inbound_now = BTreeSet::new();
        let mut outbound_now = BTreeSet::new();
        for w in &config.workloads {
            let owner = Owner::of(w);
            if let Some(i) = &w.inbound {
                if let Some(l) = self.inbound.get(&i.hbone).filter(|l| l.owner == owner) {
                    l.ctx.set(i.clone());
                    inbound_now.insert(i.hbone);
                }
            }
            for out in &w.outbound {
                let kept = self.outbound.get(&out.listen).filter(|l| l.owner == owner);
                if let (Some(l), Some(service)) = (kept, config.service(&out.service)) {
                    l.ctx.set_service(service.clone());
                    outbound_now.insert(out.listen);
                }
            }
        }
        stop_all_but(&mut self.inbound, &inbound_now);
        stop_all_but(&mut self.outbound, &outbound_now);
        self.serve(pending);
        tracing::info!(
            node = %config.node,
            inbound = self.inbound.len(),
            outbound = self.outbound.len(),
            "configuration reloaded"
        );
        Ok(())
    }

    /// Load the certificates of, and bind, every listener of `config` this node does not
    /// serve yet (the same address for the same workload is kept, see [`Owner`]).
    async fn prepare(&self, config: &NodeConfig) -> Result<Vec<Pending>, StartError> {
        let mut pending = Vec::new();
        for w in &config.workloads {
            let owner = Owner::of(w);
            let new_inbound = w
                .inbound
                .as_ref()
                .filter(|i| self.inbound.get(&i.hbone).is_none_or(|l| l.owner != owner));
            let new_outbound: Vec<_> = w
                .outbound
                .iter()
                .filter(|o| {
                    self.outbound
                        .get(&o.listen)
                        .is_none_or(|l| l.owner != owner)
                })
                .collect();
            if new_inbound.is_none() && new_outbound.is_empty() {
                continue;
            }
            let tls_error = |source| StartError::Tls {
                what: format!("workload {}", w.name),
                source,
            };
            let own = Credentials::load(&w.cert_chain, &w.key).map_err(tls_error)?;
            if let Some(inbound) = new_inbound {
                let acceptor =
                    TlsAcceptor::from(tls::server_config(&self.trust, &own).map_err(tls_error)?);
                let what = format!("workload {} HBONE", w.name);
                if self.inbound.contains_key(&inbound.hbone) {
                    return Err(taken(what, inbound.hbone));
                }
                let listener = bind(what, inbound.hbone).await?;
                let ctx = Arc::new(InboundWorkload::new(
                    w.workload.clone(),
                    w.identity.clone(),
                    inbound.clone(),
                    self.metrics.clone(),
                ));
                pending.push(Pending::Inbound(listener, acceptor, ctx, owner.clone()));
            }
            let client = Arc::new(HboneClient::new(
                self.trust.clone(),
                own.clone(),
                w.workload.clone(),
            ));
            for out in new_outbound {
                let Some(service) = config.service(&out.service) else {
                    continue; // NodeConfig::read refused it already
                };
                let what = format!("workload {} outbound to {}", w.name, out.service);
                if self.outbound.contains_key(&out.listen) {
                    return Err(taken(what, out.listen));
                }
                let listener = bind(what, out.listen).await?;
                let ctx = Arc::new(OutboundListener::new(
                    w.workload.clone(),
                    w.identity.clone(),
                    service.clone(),
                    client.clone(),
                    self.metrics.clone(),
                ));
                pending.push(Pending::Outbound(listener, ctx, owner.clone()));
            }
        }
        Ok(pending)
    }

    /// Serve the listeners `prepare` bound.
    fn serve(&mut self, pending: Vec<Pending>) {
        for p in pending {
            match p {
                Pending::Inbound(listener, acceptor, ctx, owner) => {
                    let Ok(addr) = listener.local_addr() else {
                        continue;
                    };
                    let task = self
                        .tasks
                        .spawn(inbound::serve(listener, acceptor, ctx.clone()));
                    self.inbound.insert(addr, Listening { owner, ctx, task });
                }
                Pending::Outbound(listener, ctx, owner) => {
                    let Ok(addr) = listener.local_addr() else {
                        continue;
                    };
                    let task = self.tasks.spawn(outbound::serve(listener, ctx.clone()));
                    self.outbound.insert(addr, Listening { owner, ctx, task });
                }
            }
        }
    }

    /// Run until a task ends on its own (none does unless it panics; a listener a reload
    /// stopped is not one).
    pub async fn wait(&mut self) {
        while let Some(done) = self.tasks.join_next().await {
            match done {
                Err(e) if e.is_cancelled() => continue,
                _ => return,
            }
        }
        std::future::pending::<()>().await;
    }
}
