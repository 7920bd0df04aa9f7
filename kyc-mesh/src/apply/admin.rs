//! Envoy's admin endpoint: the one place that reads its stats and polls them. `apply`
//! waits on it for each xDS update, `use` for the running mesh's switch, `up` for the
//! listener, and the tests for counters.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// The admin stat prefix of the CDS subscription (fixed by Envoy).
pub(crate) const CDS_STAT: &str = "cluster_manager.cds";
/// The admin stat prefix of the LDS subscription (fixed by Envoy).
pub(crate) const LDS_STAT: &str = "listener_manager.lds";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("Envoy admin on port {port}: {source}")]
    Http {
        port: u16,
        #[source]
        source: reqwest::Error,
    },
}

/// Counters of one xDS subscription as read from the admin endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) success: u64,
    pub(crate) rejected: u64,
}

/// How a wait on subscriptions ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// One of the subscriptions applied an update.
    Applied,
    /// This subscription rejected an update.
    Rejected(String),
    TimedOut,
}

/// Call `f` every `interval` until it returns `Some`, or `None` once `deadline` passed.
pub async fn poll<T, F, Fut>(deadline: Duration, interval: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        tokio::time::sleep(interval).await;
    }
}

/// Escape a stat name for Envoy's `/stats?filter=` regex (istiod's names carry `.` and `|`).
fn escape(name: &str) -> String {
    name.replace('.', "\\.").replace('|', "\\|")
}

#[derive(Debug, Clone)]
pub struct Admin {
    pub(crate) port: u16,
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

    /// GET an admin path: (status, body).
    pub(crate) async fn get(&self, path: &str) -> Result<(u16, String), AdminError> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let http = |source| AdminError::Http {
            port: self.port,
            source,
        };
        let r = self.client.get(&url).send().await.map_err(http)?;
        let status = r.status().as_u16();
        Ok((status, r.text().await.map_err(http)?))
    }

    pub(crate) async fn ready(&self) -> bool {
        matches!(self.get("/ready").await, Ok((200, _)))
    }

    /// Every counter or gauge whose name matches `regex` (Envoy's `/stats?filter=`).
    pub(crate) async fn stats(&self, regex: &str) -> Result<BTreeMap<String, u64>, AdminError> {
        let (_, text) = self.get(&format!("/stats?filter={regex}")).await?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(": ")?;
                Some((name.to_string(), value.trim().parse().ok()?))
            })
            .collect())
    }

    /// One stat by exact name (0 when Envoy has not created it yet).
    pub async fn stat(&self, name: &str) -> Result<u64, AdminError> {
        let stats = self.stats(&format!("^{}$", escape(name))).await?;
        Ok(stats.get(name).copied().unwrap_or(0))
    }

    /// The update counters of the subscription whose stats start with `prefix`.
    pub(crate) async fn counters(&self, prefix: &str) -> Result<Counters, AdminError> {
        let stats = self
            .stats(&format!("^{}\\.update_", escape(prefix)))
            .await?;
        let get = |what: &str| {
            stats
                .get(&format!("{prefix}.update_{what}"))
                .copied()
                .unwrap_or(0)
        };
        Ok(Counters {
            success: get("success"),
            rejected: get("rejected"),
        })
    }

    /// The counters of several subscriptions, in order.
    pub(crate) async fn snapshot(&self, prefixes: &[&str]) -> Result<Vec<Counters>, AdminError> {
        let mut out = Vec::with_capacity(prefixes.len());
        for p in prefixes {
            out.push(self.counters(p).await?);
        }
        Ok(out)
    }

    /// Wait until one of the subscriptions moves past its `before` counters: an applied
    /// update, or a rejected one (checked first: a rejection must not pass for success).
    pub(crate) async fn wait_moved(
        &self,
        prefixes: &[&str],
        before: &[Counters],
        deadline: Duration,
        interval: Duration,
    ) -> Outcome {
        let moved = poll(deadline, interval, || async {
            let now = self.snapshot(prefixes).await.ok()?;
            let pairs = || prefixes.iter().zip(now.iter().zip(before));
            if let Some((p, _)) = pairs().find(|(_, (n, b))| n.rejected > b.rejected) {
                return Some(Outcome::Rejected(p.to_string()));
            }
            pairs()
                .any(|(_, (n, b))| n.success > b.success)
                .then_some(Outcome::Applied)
        })
        .await;
        moved.unwrap_or(Outcome::TimedOut)
    }
}
