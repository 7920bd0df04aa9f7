//! File-based dynamic configuration for a running Envoy: LDS/CDS/RDS files in one
//! watched directory, replaced by atomic rename, with Envoy's admin stats used to
//! confirm each update was applied (or rejected) before the next one is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::translate::{EnvoyConfig, ROUTE_CONFIG_NAME};

pub const LDS: &str = "lds.json";
pub const CDS: &str = "cds.json";
pub const RDS: &str = "rds.json";

/// Envoy's stat prefix for the RDS subscription of our listener.
pub const RDS_STAT: &str = "http.outbound_0.0.0.0_80.rds.http.80";
pub const CDS_STAT: &str = "cluster_manager.cds";

/// Each resource type lives in its own watched sub-directory (`lds/lds.json`, ...): a
/// rename there reloads only that subscription, so the admin counters of one type move
/// only when that type was written.
fn sub(dir: &Path, file: &str) -> PathBuf {
    dir.join(file.trim_end_matches(".json"))
}

fn source(dir: &Path, file: &str) -> Value {
    json!({
        "resource_api_version": "V3",
        "path_config_source": {
            "path": sub(dir, file).join(file).display().to_string(),
            "watched_directory": {"path": sub(dir, file).display().to_string()}
        }
    })
}

fn write_resource(dir: &Path, file: &str, value: &Value) -> Result<()> {
    write_atomic(&sub(dir, file), file, value)
}

/// Bootstrap for `up`: admin on 127.0.0.1, listeners and clusters from files.
pub fn bootstrap(dir: &Path, admin_port: u16) -> Value {
    json!({
        "node": {"id": "kyc-mesh", "cluster": "istio-ingressgateway"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "overload_manager": {"resource_monitors": [{
            "name": "envoy.resource_monitors.global_downstream_max_connections",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                "max_active_downstream_connections": 10000
            }
        }]},
        "dynamic_resources": {
            "lds_config": source(dir, LDS),
            "cds_config": source(dir, CDS)
        }
    })
}

/// Write `value` to `dir/name` atomically (temp file in the same directory + rename).
pub fn write_atomic(dir: &Path, name: &str, value: &Value) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let text = serde_json::to_vec_pretty(value)?;
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(name))
        .with_context(|| format!("renaming {} into place", tmp.display()))?;
    Ok(())
}

fn discovery(version: u64, resources: Vec<Value>) -> Value {
    json!({"version_info": version.to_string(), "resources": resources})
}

/// Counters of one xDS subscription as read from the admin endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub success: u64,
    pub rejected: u64,
}

pub struct Admin {
    pub port: u16,
    client: reqwest::Client,
}

impl Admin {
    pub fn new(port: u16) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .unwrap_or_default();
        Admin { port, client }
    }

    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let r = self.client.get(&url).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.text().await?))
    }

    pub async fn ready(&self) -> bool {
        matches!(self.get("/ready").await, Ok((200, _)))
    }

    pub async fn counters(&self, prefix: &str) -> Result<Counters> {
        let (_, text) = self
            .get(&format!(
                "/stats?filter=^{}\\.update_",
                prefix.replace('.', "\\.")
            ))
            .await?;
        let mut c = Counters::default();
        for line in text.lines() {
            if let Some((name, value)) = line.split_once(": ") {
                let v: u64 = value.trim().parse().unwrap_or(0);
                if name == format!("{prefix}.update_success") {
                    c.success = v;
                } else if name == format!("{prefix}.update_rejected") {
                    c.rejected = v;
                }
            }
        }
        Ok(c)
    }

    /// Wait until the subscription counters move past `before`.
    pub async fn wait_applied(
        &self,
        prefix: &str,
        before: Counters,
        deadline: Duration,
    ) -> Result<()> {
        let end = Instant::now() + deadline;
        loop {
            if let Ok(now) = self.counters(prefix).await {
                if now.rejected > before.rejected {
                    bail!("Envoy rejected the update of {prefix} (see Envoy's log above)");
                }
                if now.success > before.success {
                    return Ok(());
                }
            }
            if Instant::now() > end {
                bail!("Envoy did not apply the update of {prefix} within {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The xDS directory of one running Envoy and what it currently holds.
pub struct XdsDir {
    pub dir: PathBuf,
    version: u64,
    clusters: BTreeMap<String, Value>,
    routes: Value,
}

fn cluster_map(cfg: &EnvoyConfig) -> BTreeMap<String, Value> {
    cfg.clusters
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c.clone(),
            )
        })
        .collect()
}

impl XdsDir {
    /// Write the first configuration (before Envoy starts).
    pub fn create(dir: &Path, cfg: &EnvoyConfig, admin_port: u16) -> Result<Self> {
        for f in [LDS, CDS, RDS] {
            let d = sub(dir, f);
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        let listener = cfg.listener((
            "rds",
            json!({"config_source": source(dir, RDS), "route_config_name": ROUTE_CONFIG_NAME}),
        ));
        let me = XdsDir {
            dir: dir.to_path_buf(),
            version: 1,
            clusters: cluster_map(cfg),
            routes: cfg.route_config.clone(),
        };
        write_resource(dir, RDS, &discovery(1, vec![cfg.route_config.clone()]))?;
        write_resource(dir, CDS, &discovery(1, cfg.clusters.clone()))?;
        write_resource(dir, LDS, &discovery(1, vec![listener]))?;
        write_atomic(dir, "bootstrap.json", &bootstrap(dir, admin_port))?;
        Ok(me)
    }

    pub fn bootstrap_path(&self) -> PathBuf {
        self.dir.join("bootstrap.json")
    }

    /// Swap in a new configuration without a failed request: clusters first (old ∪ new,
    /// so every route target exists), then routes, then drop clusters nobody routes to.
    /// Returns false when nothing changed.
    pub async fn apply(&mut self, admin: &Admin, cfg: &EnvoyConfig) -> Result<bool> {
        let wait = Duration::from_secs(10);
        let new_clusters = cluster_map(cfg);
        if new_clusters == self.clusters && cfg.route_config == self.routes {
            return Ok(false);
        }
        let mut union = self.clusters.clone();
        union.extend(new_clusters.clone());
        if union != self.clusters {
            self.version += 1;
            let before = admin.counters(crate::xds::CDS_STAT).await?;
            write_resource(
                &self.dir,
                CDS,
                &discovery(self.version, union.values().cloned().collect()),
            )?;
            admin.wait_applied(CDS_STAT, before, wait).await?;
            self.clusters = union;
        }
        if cfg.route_config != self.routes {
            self.version += 1;
            let before = admin.counters(RDS_STAT).await?;
            write_resource(
                &self.dir,
                RDS,
                &discovery(self.version, vec![cfg.route_config.clone()]),
            )?;
            admin.wait_applied(RDS_STAT, before, wait).await?;
            self.routes = cfg.route_config.clone();
        }
        if self.clusters != new_clusters {
            self.version += 1;
            let before = admin.counters(CDS_STAT).await?;
            write_resource(
                &self.dir,
                CDS,
                &discovery(self.version, cfg.clusters.clone()),
            )?;
            admin.wait_applied(CDS_STAT, before, wait).await?;
            self.clusters = new_clusters;
        }
        Ok(true)
    }
}
