//! The local mesh's figures: Envoy's admin stats of the two subset clusters, as deltas over the
//! interval. Every attempt that reached a version counts, retried ones included
//! (`upstream_rq_completed` + `retry.upstream_rq_completed`, failures `upstream_rq_5xx` +
//! `retry.upstream_rq_5xx`), as Flagger's destination-side metrics count them: the route's retry
//! policy cannot hide a failing canary. p99 comes from the interval's own values of the
//! `upstream_rq_time` histogram (bucket deltas of `histogram_buckets=detailed`; `up` flushes
//! histograms every second): see [`super::analysis::p99`] for its resolution.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::analysis::{delta, p99, Bucket, Sample};
use super::{CanaryError, Metrics};
use crate::apply::Admin;
use crate::envoy::ClusterName;

/// One cluster's cumulative counters and histogram at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
struct Snapshot {
    completed: u64,
    failed: u64,
    buckets: Vec<Bucket>,
}

pub(crate) struct EnvoyMetrics {
    admin: Admin,
    clusters: [String; 2],
    before: Option<[Snapshot; 2]>,
}

impl EnvoyMetrics {
    /// Figures of the `stable` and `canary` subset clusters of the Envoy on admin port `admin`.
    pub(crate) fn new(admin: Admin, stable: &ClusterName, canary: &ClusterName) -> Self {
        EnvoyMetrics {
            admin,
            clusters: [stable.to_string(), canary.to_string()],
            before: None,
        }
    }

    async fn snapshot(&self) -> Result<[Snapshot; 2], CanaryError> {
        let names: Vec<String> = self.clusters.iter().map(|c| regex_escape(c)).collect();
        let filter = format!(
            "^cluster\\.({})\\.((retry\\.)?upstream_rq_(completed|5xx)|upstream_rq_time)$",
            names.join("|")
        );
        let path = format!(
            "/stats?format=json&histogram_buckets=detailed&filter={}",
            percent_encode(&filter)
        );
        let (status, body) = self.admin.get(&path).await?;
        if status != 200 {
            return Err(CanaryError::AdminStatus { status, body });
        }
        let stats: Stats = serde_json::from_str(&body).map_err(CanaryError::AdminStats)?;
        let counters = stats.counters();
        let histograms = stats.histograms();
        Ok(self.clusters.clone().map(|c| {
            let get = |s: &str| {
                counters
                    .get(&format!("cluster.{c}.{s}"))
                    .copied()
                    .unwrap_or(0)
            };
            Snapshot {
                completed: get("upstream_rq_completed") + get("retry.upstream_rq_completed"),
                failed: get("upstream_rq_5xx") + get("retry.upstream_rq_5xx"),
                buckets: histograms
                    .get(&format!("cluster.{c}.upstream_rq_time"))
                    .cloned()
                    .unwrap_or_default(),
            }
        }))
    }
}

fn sample(before: &Snapshot, now: &Snapshot) -> Sample {
    // A counter that went down: the cluster was removed and added again (weight 0, then not).
    let d = |n: u64, b: u64| if n >= b { n - b } else { n };
    let requests = d(now.completed, before.completed);
    let failed = d(now.failed, before.failed).min(requests);
    Sample {
        requests,
        successes: requests - failed,
        p99_ms: p99(&delta(&before.buckets, &now.buckets)),
    }
}

impl Metrics for EnvoyMetrics {
    async fn mark(&mut self) -> Result<(), CanaryError> {
        self.before = Some(self.snapshot().await?);
        Ok(())
    }

    async fn read(&mut self, _interval: Duration) -> Result<(Sample, Sample), CanaryError> {
        let now = self.snapshot().await?;
        let before = self.before.take().unwrap_or_default();
        let [s, c] = [sample(&before[0], &now[0]), sample(&before[1], &now[1])];
        self.before = Some(now);
        Ok((s, c))
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = matches!(
                c,
                '.' | '|' | '(' | ')' | '[' | ']' | '*' | '+' | '?' | '^' | '$' | '\\' | '{' | '}'
            );
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `/stats?format=json`: counters as `{name, value}`, histograms in one `{histograms}` entry.
#[derive(Deserialize)]
struct Stats {
    stats: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Counter { name: String, value: u64 },
    Histograms { histograms: Histograms },
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Histograms {
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    name: String,
    #[serde(default)]
    totals: Vec<JsonBucket>,
}

#[derive(Deserialize)]
struct JsonBucket {
    lower_bound: f64,
    width: f64,
    count: u64,
}

impl Stats {
    fn counters(&self) -> BTreeMap<String, u64> {
        self.stats
            .iter()
            .filter_map(|e| match e {
                Entry::Counter { name, value } => Some((name.clone(), *value)),
                _ => None,
            })
            .collect()
    }

    fn histograms(&self) -> BTreeMap<String, Vec<Bucket>> {
        self.stats
            .iter()
            .filter_map(|e| match e {
                Entry::Histograms { histograms } => Some(&histograms.details),
                _ => None,
            })
            .flatten()
            .map(|d| {
                let buckets = d
                    .totals
                    .iter()
                    .map(|b| Bucket {
                        lower: b.lower_bound,
                        width: b.width,
                        count: b.count,
                    })
                    .collect();
                (d.name.clone(), buckets)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_json_reads_into_counters_and_buckets() {
        let body = r#"{"stats":[{"name":"cluster.a.upstream_rq_completed","value":36},
            {"name":"cluster.a.retry.upstream_rq_completed","value":21},
            {"histograms":{"supported_percentiles":[99],"details":[{"name":"cluster.a.upstream_rq_time",
            "totals":[{"lower_bound":1,"width":0.1,"count":4}],"intervals":[],"percentiles":[]}]}}]}"#;
        let s: Stats = serde_json::from_str(body).expect("parse");
        assert_eq!(
            s.counters().get("cluster.a.retry.upstream_rq_completed"),
            Some(&21)
        );
        assert_eq!(s.histograms()["cluster.a.upstream_rq_time"][0].count, 4);
    }

    #[test]
    fn deltas_count_retried_attempts_and_survive_a_reset() {
        let before = Snapshot {
            completed: 100,
            failed: 10,
            buckets: vec![],
        };
        let now = Snapshot {
            completed: 157,
            failed: 32,
            buckets: vec![Bucket {
                lower: 2.0,
                width: 0.1,
                count: 5,
            }],
        };
        let s = sample(&before, &now);
        assert_eq!((s.requests, s.successes, s.p99_ms), (57, 35, Some(2.1)));
        let reset = Snapshot {
            completed: 3,
            failed: 0,
            buckets: vec![],
        };
        assert_eq!(sample(&now, &reset).requests, 3);
    }

    #[test]
    fn cluster_names_are_escaped_for_envoys_regex_and_the_url() {
        assert_eq!(
            regex_escape("outbound|8080|v2|a.b"),
            "outbound\\|8080\\|v2\\|a\\.b"
        );
        assert_eq!(percent_encode("^a|b$"), "%5Ea%7Cb%24");
    }
}
