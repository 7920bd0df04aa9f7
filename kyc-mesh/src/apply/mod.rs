//! Pushing a proxy's configuration into a running Envoy: LDS/CDS/RDS files in one
//! watched directory, replaced by atomic rename, each update confirmed through the admin
//! stats (or reported as rejected) before the next one is written.

pub mod admin;
pub(crate) mod endpoints;

pub use admin::Admin;
pub(crate) use admin::Outcome;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::envoy::bootstrap::{
    Admin as AdminConfig, Bootstrap, ConfigSource, DiscoveryResponse, DynamicResources,
    OverloadManager,
};
use crate::envoy::cluster::Cluster;
use crate::envoy::listener::{HttpListener, Listener, Rds, RouteSpecifier};
use crate::envoy::route::RouteConfiguration;
use crate::envoy::telemetry::{self, Telemetry};
use crate::envoy::tls::SdsSources;
use crate::envoy::{ClusterName, ListenerKind};
use crate::translate::ProxyConfig;

use admin::{Counters, CDS_STAT, LDS_STAT};

pub(crate) const LDS: &str = "lds.json";
pub(crate) const CDS: &str = "cds.json";
pub(crate) const RDS: &str = "rds.json";

/// How long Envoy gets to apply one update.
pub(crate) const APPLY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("serialising {0}: {1}")]
    Json(String, #[source] serde_json::Error),
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    #[error("Envoy rejected the update of {0} (see Envoy's log above)")]
    Rejected(String),
    #[error("Envoy did not apply the update of {0} within {APPLY_WAIT:?}")]
    TimedOut(String),
    /// A node proxy's configuration could not be made or was refused (ambient mode).
    #[error("{0}")]
    NodeProxy(String),
}

/// Each resource type lives in its own watched sub-directory (`lds/lds.json`, ...): a
/// rename there reloads only that subscription, so the admin counters of one type move
/// only when that type was written. Each listener's route table gets its own directory
/// (`rds-0/rds.json`, `rds-1/…`): a file-based RDS subscription takes exactly one resource.
fn sub(dir: &Path, file: &str) -> PathBuf {
    dir.join(file.trim_end_matches(".json"))
}

/// The route directory of listener `index` in its `epoch`: `rds-0` first, `rds-0.1` once
/// the listener's token verification changed, and so on. Such a listener takes its routes
/// from a new directory, so the listener it replaces keeps, while it drains, the routes it
/// was made with (see [`XdsDir::apply`]).
fn rds_sub(dir: &Path, index: usize, epoch: u32) -> PathBuf {
    match epoch {
        0 => dir.join(format!("rds-{index}")),
        e => dir.join(format!("rds-{index}.{e}")),
    }
}

/// Envoy's gauges of listeners (and in-place filter chains) still draining after an update.
const DRAINING: [&str; 2] = [
    "listener_manager.total_listeners_draining",
    "listener_manager.total_filter_chains_draining",
];
/// Envoy's gauge of listeners waiting for their routes before they take connections.
const WARMING: &str = "listener_manager.total_listeners_warming";

fn source(dir: &Path, file: &str) -> ConfigSource {
    ConfigSource::watched_file(&sub(dir, file), file)
}

/// Write `value` as JSON to `dir/name` atomically (`files::write_atomic`).
pub(crate) fn write_json<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<(), ApplyError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| ApplyError::Json(name.into(), e))?;
    let path = dir.join(name);
    crate::files::write_atomic(&path, text).map_err(|source| ApplyError::Write {
        path: crate::files::temp_path(&path),
        source,
    })
}

/// Write one update of the subscription whose admin stats start with `stat` (`write`), then
/// wait until Envoy applied it: its `update_success` moved, else `Rejected` (checked first) or
/// `TimedOut` after [`APPLY_WAIT`].
pub(crate) async fn confirmed(
    admin: &Admin,
    stat: &str,
    write: impl FnOnce() -> Result<(), ApplyError>,
) -> Result<(), ApplyError> {
    let before = admin.snapshot(&[stat]).await?;
    write()?;
    applied(admin, stat, &before).await
}

/// Wait until the subscription whose admin stats start with `stat` moved past `before`:
/// `update_success`, else `Rejected` (checked first) or `TimedOut` after [`APPLY_WAIT`].
async fn applied(admin: &Admin, stat: &str, before: &[Counters]) -> Result<(), ApplyError> {
    let tick = Duration::from_millis(20);
    match admin.wait_moved(&[stat], before, APPLY_WAIT, tick).await {
        Outcome::Applied => Ok(()),
        Outcome::Rejected(s) => Err(ApplyError::Rejected(s)),
        Outcome::TimedOut => Err(ApplyError::TimedOut(stat.to_string())),
    }
}

/// The xDS directory of one running Envoy and what it currently holds.
pub(crate) struct XdsDir {
    pub(crate) dir: PathBuf,
    version: u64,
    telemetry: Telemetry,
    /// Whom this proxy's spans are attributed to (its node cluster).
    service_name: String,
    /// The proxy's SDS secrets (a sidecar inbound's mTLS).
    sds: Option<SdsSources>,
    listeners: Vec<HttpListener>,
    /// Each listener's route directory epoch ([`rds_sub`]).
    epochs: Vec<u32>,
    clusters: BTreeMap<ClusterName, Cluster>,
    routes: Vec<RouteConfiguration>,
}

impl XdsDir {
    /// Write the first configuration and the bootstrap (before Envoy starts), with `telemetry`'s
    /// tracer and access log on the listeners and its collector cluster in the bootstrap.
    pub(crate) fn create(
        dir: &Path,
        proxy: &ProxyConfig,
        admin_port: u16,
        telemetry: &Telemetry,
    ) -> Result<Self, ApplyError> {
        let mut dirs: Vec<PathBuf> = [LDS, CDS].iter().map(|f| sub(dir, f)).collect();
        dirs.extend((0..proxy.listeners.len()).map(|i| rds_sub(dir, i, 0)));
        for d in dirs {
            std::fs::create_dir_all(&d).map_err(|source| ApplyError::Write { path: d, source })?;
        }
        let me = XdsDir {
            dir: dir.to_path_buf(),
            version: 1,
            telemetry: telemetry.clone(),
            service_name: proxy.node.cluster.clone(),
            sds: proxy.identity.as_ref().map(|i| i.sds.clone()),
            listeners: proxy.listeners.iter().map(|l| l.listener.clone()).collect(),
            epochs: vec![0; proxy.listeners.len()],
            clusters: proxy.clusters.clone(),
            routes: proxy.listeners.iter().map(|l| l.routes.clone()).collect(),
        };
        for (i, l) in proxy.listeners.iter().enumerate() {
            write_json(
                &rds_sub(dir, i, 0),
                RDS,
                &DiscoveryResponse::new(1, [l.routes.clone()]),
            )?;
        }
        me.write(
            CDS,
            DiscoveryResponse::new(1, proxy.clusters.values().cloned()),
        )?;
        me.write(LDS, DiscoveryResponse::new(1, me.built_listeners()))?;
        let max_connections = proxy
            .main_listener()
            .map_or(10_000, |l| l.listener.limits.max_connections);
        let bootstrap = Bootstrap {
            node: proxy.node.clone(),
            admin: AdminConfig::loopback(admin_port),
            stats_config: crate::envoy::stats::StatsConfig::istio_cluster_names(),
            overload_manager: Some(OverloadManager::max_connections(max_connections)),
            static_resources: None,
            dynamic_resources: Some(DynamicResources {
                lds_config: source(dir, LDS),
                cds_config: source(dir, CDS),
            }),
        };
        let mut bootstrap = serde_json::to_value(&bootstrap).unwrap_or_default();
        // Histograms reach the admin stats at each flush (Envoy's default: every 5 s); the
        // canary reads p99 per interval from them, so flush every second.
        bootstrap["stats_flush_interval"] = serde_json::json!("1s");
        let collector = telemetry.static_clusters();
        if !collector.is_empty() {
            bootstrap["static_resources"] = serde_json::json!({ "clusters": collector });
        }
        if let Some(runtime) = telemetry.runtime() {
            bootstrap["layered_runtime"] = runtime;
        }
        write_json(dir, "bootstrap.json", &bootstrap)?;
        Ok(me)
    }

    /// The Envoy listeners, each taking its routes from its own RDS file.
    fn built_listeners(&self) -> Vec<Listener> {
        self.listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let rds = RouteSpecifier::Rds(Rds {
                    config_source: ConfigSource::watched_file(&self.route_dir(i), RDS),
                    route_config_name: l.route_config_name(),
                });
                let mut built = l.build(rds, self.sds.as_ref());
                let hop = match l.kind {
                    ListenerKind::Gateway => telemetry::HOP_GATEWAY,
                    ListenerKind::SidecarInbound => telemetry::HOP_SIDECAR_INBOUND,
                    ListenerKind::SidecarOutbound => telemetry::HOP_SIDECAR_OUTBOUND,
                };
                self.telemetry.decorate(&mut built, &self.service_name, hop);
                built
            })
            .collect()
    }

    /// Listener `i`'s route directory now ([`rds_sub`] in its epoch).
    fn route_dir(&self, i: usize) -> PathBuf {
        rds_sub(&self.dir, i, self.epochs.get(i).copied().unwrap_or(0))
    }

    pub(crate) fn bootstrap_path(&self) -> PathBuf {
        self.dir.join("bootstrap.json")
    }

    fn write<T: Serialize>(&self, file: &str, body: T) -> Result<(), ApplyError> {
        write_json(&sub(&self.dir, file), file, &body)
    }

    /// Write one resource file (`dir/file`) and wait until Envoy applied it.
    async fn push<T: Serialize>(
        &mut self,
        admin: &Admin,
        dir: PathBuf,
        file: &str,
        stat: &str,
        body: impl FnOnce(u64) -> T,
    ) -> Result<(), ApplyError> {
        self.version += 1;
        let body = body(self.version);
        confirmed(admin, stat, || write_json(&dir, file, &body)).await
    }

    /// Swap in a new configuration without a failed request: clusters first (old ∪ new,
    /// so every route target exists), then listeners (when their filter chains changed),
    /// then routes, then drop clusters nobody routes to. Returns false when nothing changed.
    /// The listeners themselves (kind and ports) are fixed for the life of the Envoy.
    ///
    /// A listener replaced while its connections drain (each gets one more answer, then
    /// `Connection: close`) shares its routes with the new one, so a policy edit applies to
    /// open connections too; except when the listener's token verification changes (JWT
    /// keys, issuers, the filter itself): the policies may need what only one of the two
    /// verifies, so the new listener comes with its routes in a new directory
    /// ([`rds_sub`]), written first, and the old one keeps its own routes. Otherwise a valid
    /// token on a connection opened before `use jwt-auth` would meet the new policy on a
    /// listener that verifies no token: a 403.
    pub(crate) async fn apply(
        &mut self,
        admin: &Admin,
        proxy: &ProxyConfig,
    ) -> Result<bool, ApplyError> {
        let routes: Vec<RouteConfiguration> =
            proxy.listeners.iter().map(|l| l.routes.clone()).collect();
        let listeners: Vec<HttpListener> =
            proxy.listeners.iter().map(|l| l.listener.clone()).collect();
        if proxy.clusters == self.clusters && routes == self.routes && listeners == self.listeners {
            return Ok(false);
        }
        let mut union = self.clusters.clone();
        union.extend(proxy.clusters.clone());
        if union != self.clusters {
            let all = union.values().cloned().collect::<Vec<_>>();
            let d = sub(&self.dir, CDS);
            self.push(admin, d, CDS, CDS_STAT, |v| DiscoveryResponse::new(v, all))
                .await?;
            self.clusters = union;
        }
        if listeners != self.listeners && listeners.len() == self.listeners.len() {
            self.swap_listeners(admin, listeners, &routes).await?;
        }
        for (i, new) in routes.iter().enumerate() {
            if self.routes.get(i) == Some(new) {
                continue;
            }
            let Some(stat) = self.listeners.get(i).map(HttpListener::rds_stat) else {
                continue;
            };
            let body = new.clone();
            let d = self.route_dir(i);
            self.push(admin, d, RDS, &stat, |v| DiscoveryResponse::new(v, [body]))
                .await?;
            self.routes[i] = new.clone();
        }
        if self.clusters != proxy.clusters {
            let kept = proxy.clusters.values().cloned().collect::<Vec<_>>();
            let d = sub(&self.dir, CDS);
            self.push(admin, d, CDS, CDS_STAT, |v| DiscoveryResponse::new(v, kept))
                .await?;
            self.clusters = proxy.clusters.clone();
        }
        Ok(true)
    }

    /// The listeners that changed; those whose token verification changed with their
    /// routes (`routes`, by listener) in a new directory: routes written, then the
    /// listeners, then wait until Envoy loaded each new directory (or say it rejected it) and
    /// no listener is warming. The other listeners' routes follow in [`Self::apply`].
    async fn swap_listeners(
        &mut self,
        admin: &Admin,
        listeners: Vec<HttpListener>,
        routes: &[RouteConfiguration],
    ) -> Result<(), ApplyError> {
        self.remove_drained_route_dirs(admin).await;
        let mut loads = Vec::new();
        for (i, new) in listeners.iter().enumerate() {
            let own_routes = self
                .listeners
                .get(i)
                .is_some_and(|old| !old.same_token_verification(new));
            let (true, Some(epoch), Some(table)) =
                (own_routes, self.epochs.get_mut(i), routes.get(i))
            else {
                continue;
            };
            *epoch += 1;
            let d = self.route_dir(i);
            std::fs::create_dir_all(&d).map_err(|source| ApplyError::Write {
                path: d.clone(),
                source,
            })?;
            self.version += 1;
            write_json(
                &d,
                RDS,
                &DiscoveryResponse::new(self.version, [table.clone()]),
            )?;
            if let Some(old) = self.routes.get_mut(i) {
                *old = table.clone();
            }
            let stat = new.rds_stat();
            let before = admin.snapshot(&[stat.as_str()]).await?;
            loads.push((stat, before));
        }
        self.listeners = listeners;
        let built = self.built_listeners();
        let d = sub(&self.dir, LDS);
        self.push(admin, d, LDS, LDS_STAT, |v| {
            DiscoveryResponse::new(v, built)
        })
        .await?;
        for (stat, before) in loads {
            applied(admin, &stat, &before).await?;
        }
        let tick = Duration::from_millis(20);
        let warm = admin::poll(APPLY_WAIT, tick, || async {
            (admin.stat(WARMING).await.ok()? == 0).then_some(())
        })
        .await;
        warm.ok_or_else(|| ApplyError::TimedOut(WARMING.to_string()))
    }

    /// Once no listener drains, the route directories of replaced listeners go.
    async fn remove_drained_route_dirs(&self, admin: &Admin) {
        for gauge in DRAINING {
            if !matches!(admin.stat(gauge).await, Ok(0)) {
                return;
            }
        }
        for (i, &epoch) in self.epochs.iter().enumerate() {
            for old in 0..epoch {
                // Best effort: a directory left behind is only a few kilobytes of the state dir.
                let _ = std::fs::remove_dir_all(rds_sub(&self.dir, i, old));
            }
        }
    }
}
