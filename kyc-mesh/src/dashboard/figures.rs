//! From Envoy's cumulative counters to the figures the dashboard shows: requests/s, success
//! rate and p99 per cluster (one version of a service) and for the gateway's listener, over a
//! sliding window of samples (the difference between the newest and the oldest one kept).
//!
//! The samples come from `/stats/prometheus`, which gives histograms as cumulative buckets
//! (what a p99 over a window needs: bucket deltas); the plain `/stats` text only shows
//! Envoy's own interval summaries.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The stats the collector asks for (Envoy's `/stats/prometheus?filter=`, matched against the
/// native stat names): response classes and request times, upstream (per cluster) and
/// downstream (the gateway listener); 401 and 403 answers per cluster (a sidecar refusing a
/// token, or its RBAC); and each cluster's outlier detection ejections (a gauge: how many of
/// its endpoints are ejected now).
pub(super) const FILTER: &str = r"(upstream_rq_[1-5]xx|upstream_rq_40[13]|upstream_rq_time|downstream_rq_[1-5]xx|downstream_rq_time|outlier_detection\.ejections_active)$";

/// The cumulative counters of one cluster or listener at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Series {
    /// Responses by class: index 0 = 1xx … 4 = 5xx.
    pub(crate) classes: [u64; 5],
    /// Cumulative histogram buckets of the request time: (upper bound in ms, count).
    pub(crate) buckets: Vec<(f64, u64)>,
    /// Endpoints outlier detection has ejected now (a gauge, not a counter: only the newest
    /// reading means anything).
    pub(crate) ejected: u64,
    /// 401 answers (a token refused), 403 answers (RBAC, or a token for another audience).
    pub(crate) unauthorized: u64,
    pub(crate) forbidden: u64,
}

impl Series {
    /// Add another series' counts (bucket by bucket) to this one.
    fn add(&mut self, other: &Series) {
        for (total, c) in self.classes.iter_mut().zip(other.classes) {
            *total += c;
        }
        self.unauthorized += other.unauthorized;
        self.forbidden += other.forbidden;
        for (le, n) in &other.buckets {
            match self.buckets.iter_mut().find(|(b, _)| b == le) {
                Some(slot) => slot.1 += n,
                None => self.buckets.push((*le, *n)),
            }
        }
    }
}

/// Everything one poll of Envoy read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Sample {
    /// By Envoy cluster name (`outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local`).
    pub(crate) clusters: BTreeMap<String, Series>,
    /// The gateway's HTTP connection manager(s), added up (every request the gateway received).
    pub(crate) gateway: Series,
}

/// A metric line's labels: (name, value).
type Labels<'a> = Vec<(&'a str, &'a str)>;

/// One metric line of the Prometheus text: name, labels, value.
fn line(text: &str) -> Option<(&str, Labels<'_>, f64)> {
    let (head, value) = text.rsplit_once(' ')?;
    let value: f64 = value.trim().parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((n, rest)) => (n, rest.strip_suffix('}')?),
        None => (head, ""),
    };
    let labels = labels
        .split("\",")
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once("=\"")?;
            Some((k, v.trim_end_matches('"')))
        })
        .collect();
    Some((name, labels, value))
}

fn label<'a>(labels: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn add_class(series: &mut Series, labels: &[(&str, &str)], value: f64) {
    let class = label(labels, "envoy_response_code_class").and_then(|c| c.parse::<usize>().ok());
    if let Some(c @ 1..=5) = class {
        series.classes[c - 1] = value as u64;
    }
}

fn add_bucket(series: &mut Series, labels: &[(&str, &str)], value: f64) {
    let le = match label(labels, "le") {
        Some("+Inf") => f64::INFINITY,
        Some(v) => match v.parse() {
            Ok(v) => v,
            Err(_) => return,
        },
        None => return,
    };
    match series.buckets.iter_mut().find(|(b, _)| *b == le) {
        Some(slot) => slot.1 = value as u64,
        None => series.buckets.push((le, value as u64)),
    }
}

/// Read `/stats/prometheus` text. Envoy may repeat a line (with a filter); the last one wins.
/// The `external` duplicates of cluster stats, the admin listener and the per-listener copies
/// of the gateway's stats are skipped.
pub(super) fn parse(text: &str) -> Sample {
    let mut sample = Sample::default();
    let mut gateways: BTreeMap<&str, Series> = BTreeMap::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, labels, value)) = line(l) else {
            continue;
        };
        if let Some(cluster) = label(&labels, "envoy_cluster_name") {
            let series = sample.clusters.entry(cluster.to_string()).or_default();
            match name {
                "envoy_cluster_upstream_rq_xx" => add_class(series, &labels, value),
                "envoy_cluster_upstream_rq_time_bucket" => add_bucket(series, &labels, value),
                "envoy_cluster_upstream_rq" => match label(&labels, "envoy_response_code") {
                    Some("401") => series.unauthorized = value as u64,
                    Some("403") => series.forbidden = value as u64,
                    _ => {}
                },
                "envoy_cluster_outlier_detection_ejections_active" => {
                    series.ejected = value.max(0.0) as u64;
                }
                _ => {}
            }
            continue;
        }
        let Some(rest) = name.strip_prefix("envoy_http_") else {
            continue;
        };
        if rest.starts_with("admin_") {
            continue;
        }
        if let Some(prefix) = rest.strip_suffix("_downstream_rq_xx") {
            add_class(gateways.entry(prefix).or_default(), &labels, value);
        } else if let Some(prefix) = rest.strip_suffix("_downstream_rq_time_bucket") {
            add_bucket(gateways.entry(prefix).or_default(), &labels, value);
        }
    }
    for s in gateways.values() {
        sample.gateway.add(s);
    }
    sample
}

/// The figures of one edge or version over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Figures {
    /// Responses in the window.
    pub(crate) requests: u64,
    pub(crate) rps: f64,
    /// Percent of responses that are not 5xx; `None` without requests.
    pub(crate) success_rate: Option<f64>,
    /// Milliseconds: the upper bound of the histogram bucket that holds the 99th percentile;
    /// `None` without requests.
    pub(crate) p99_ms: Option<f64>,
    /// 401 answers in the window (a token refused: expired, bad signature, unknown issuer…).
    pub(crate) unauthorized: u64,
    /// 403 answers in the window (no token where one is needed, a missing claim, RBAC).
    pub(crate) forbidden: u64,
}

impl Figures {
    /// The figures between two readings of the same series `seconds` apart. A counter that
    /// went down (Envoy restarted) counts from zero.
    pub(super) fn between(old: &Series, new: &Series, seconds: f64) -> Figures {
        let delta = |n: u64, o: u64| if n >= o { n - o } else { n };
        let classes: Vec<u64> = (0..5)
            .map(|i| delta(new.classes[i], old.classes[i]))
            .collect();
        let requests: u64 = classes.iter().sum();
        let failures = classes[4];
        let mut buckets: Vec<(f64, u64)> = new
            .buckets
            .iter()
            .map(|(le, n)| {
                let before = old
                    .buckets
                    .iter()
                    .find(|(b, _)| b == le)
                    .map_or(0, |(_, c)| *c);
                (*le, delta(*n, before))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let observed = buckets.last().map_or(0, |(_, n)| *n);
        let p99_ms = (observed > 0)
            .then(|| {
                let rank = (observed as f64 * 0.99).ceil() as u64;
                buckets.iter().find(|(_, n)| *n >= rank).map(|(le, _)| *le)
            })
            .flatten()
            .filter(|le| le.is_finite());
        Figures {
            requests,
            rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            success_rate: (requests > 0)
                .then(|| 100.0 * (requests - failures) as f64 / requests as f64),
            p99_ms,
            unauthorized: delta(new.unauthorized, old.unauthorized),
            forbidden: delta(new.forbidden, old.forbidden),
        }
    }
}

/// The samples of the last `span`, oldest first.
#[derive(Debug)]
pub(super) struct Window {
    span: Duration,
    samples: VecDeque<(Instant, Sample)>,
}

impl Window {
    pub(super) fn new(span: Duration) -> Self {
        Window {
            span,
            samples: VecDeque::new(),
        }
    }

    /// Add a reading; readings older than the span (but one, the window's start) are dropped.
    pub(super) fn push(&mut self, at: Instant, sample: Sample) {
        self.samples.push_back((at, sample));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| at.duration_since(*t) >= self.span)
        {
            self.samples.pop_front();
        }
    }

    /// Forget every reading (Envoy could not be read: the next figures start afresh).
    pub(super) fn clear(&mut self) {
        self.samples.clear();
    }

    /// The oldest and newest readings and the seconds between them.
    fn ends(&self) -> Option<(&Sample, &Sample, f64)> {
        let (t0, first) = self.samples.front()?;
        let (t1, last) = self.samples.back()?;
        let seconds = t1.duration_since(*t0).as_secs_f64();
        (self.samples.len() > 1).then_some((first, last, seconds))
    }

    /// The figures of the clusters whose name `matches`, added up, over the window (zeros
    /// before two readings).
    pub(super) fn sum(&self, matches: impl Fn(&str) -> bool) -> Figures {
        let Some((first, last, seconds)) = self.ends() else {
            return Figures::default();
        };
        let total = |s: &Sample| {
            let mut t = Series::default();
            for (_, series) in s.clusters.iter().filter(|(name, _)| matches(name)) {
                t.add(series);
            }
            t
        };
        Figures::between(&total(first), &total(last), seconds)
    }

    /// The gateway listener's figures over the window.
    pub(super) fn gateway(&self) -> Figures {
        match self.ends() {
            Some((first, last, seconds)) => {
                Figures::between(&first.gateway, &last.gateway, seconds)
            }
            None => Figures::default(),
        }
    }

    /// The most endpoints ejected now by any cluster whose name `matches` (the newest reading;
    /// 0 without one). The most, not the sum: the Service-level and the subset clusters of a
    /// host list the same instances, and each ejects a failing one on its own.
    pub(super) fn ejected(&self, matches: impl Fn(&str) -> bool) -> u64 {
        self.samples.back().map_or(0, |(_, s)| {
            s.clusters
                .iter()
                .filter(|(name, _)| matches(name))
                .map(|(_, series)| series.ejected)
                .max()
                .unwrap_or(0)
        })
    }

    /// Seconds the figures cover.
    pub(super) fn seconds(&self) -> f64 {
        self.ends().map_or(0.0, |(_, _, s)| s)
    }
}

/// The service (short host) and subset of an istiod-style cluster name
/// `outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local`.
pub(super) fn cluster_host(name: &str) -> Option<(&str, Option<&str>)> {
    let mut parts = name.split('|');
    let (_, _, subset, fqdn) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let host = fqdn.split('.').next()?;
    Some((host, (!subset.is_empty()).then_some(subset)))
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
