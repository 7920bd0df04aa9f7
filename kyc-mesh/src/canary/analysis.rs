//! One check, as Flagger makes it: the canary's request success rate against the minimum, its
//! p99 against the maximum (and, beyond Flagger, against R × the stable version's p99), and too
//! few requests = "no data" = a failed check. Pure functions over the interval's figures.

use super::model::{CanarySpec, Verdict, VersionFigures};

/// The counters of one version over one interval, as a [`super::Metrics`] reads them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Sample {
    /// Every attempt that reached the version (retried ones included).
    pub(crate) requests: u64,
    /// Attempts not answered 5xx (nor reset or timed out).
    pub(crate) successes: u64,
    /// Milliseconds; `None` when no latency was recorded in the interval.
    pub(crate) p99_ms: Option<f64>,
}

impl Sample {
    pub(crate) fn figures(&self, host: &str) -> VersionFigures {
        VersionFigures {
            host: host.to_string(),
            requests: self.requests,
            successes: self.successes.min(self.requests),
            success_rate: (self.requests > 0)
                .then(|| 100.0 * self.successes.min(self.requests) as f64 / self.requests as f64),
            p99_ms: self.p99_ms,
        }
    }
}

/// The verdict and why. `min_requests` counts the route's requests (both versions): at a
/// 10 % step the canary itself gets a tenth of them, and it must have had at least one.
pub(crate) fn evaluate(
    spec: &CanarySpec,
    stable: &VersionFigures,
    canary: &VersionFigures,
) -> (Verdict, String) {
    let total = stable.requests + canary.requests;
    if total < spec.min_requests {
        return (
            Verdict::NoData,
            format!(
                "no data: {total} requests in the interval, fewer than --min-requests {}",
                spec.min_requests
            ),
        );
    }
    let Some(rate) = canary.success_rate else {
        return (
            Verdict::NoData,
            "no data: the canary received no request in the interval".into(),
        );
    };
    let mut failed = Vec::new();
    let mut passed = Vec::new();
    let min = spec.min_success_rate;
    if rate < min {
        failed.push(format!("success rate {rate:.1}% < {min}%"));
    } else {
        passed.push(format!("success rate {rate:.1}% >= {min}%"));
    }
    match canary.p99_ms {
        Some(p99) if p99 > spec.max_p99_ms => {
            failed.push(format!("p99 {p99:.0} ms > {} ms", spec.max_p99_ms))
        }
        Some(p99) => passed.push(format!("p99 {} <= {} ms", show_ms(p99), spec.max_p99_ms)),
        None => passed.push("p99 not recorded".into()),
    }
    if let (Some(r), Some(c), Some(s)) = (spec.max_p99_ratio, canary.p99_ms, stable.p99_ms) {
        // A stable p99 of 0 ms (sub-millisecond answers) counts as 1 ms.
        let limit = r * s.max(1.0);
        if c > limit {
            failed.push(format!("p99 {c:.0} ms > {r} x stable's {s:.0} ms"));
        }
    }
    if failed.is_empty() {
        (Verdict::Pass, passed.join(", "))
    } else {
        (Verdict::Fail, failed.join(", "))
    }
}

/// A p99 as people read it. Envoy records request times in whole milliseconds, so a p99
/// below 1 ms means "every answer took under a millisecond", not "0.0 ms".
pub(crate) fn show_ms(ms: f64) -> String {
    if ms < 1.0 {
        "< 1 ms".into()
    } else {
        format!("{ms:.1} ms")
    }
}

/// One histogram bucket: values in `[lower, lower + width]`, `count` of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) lower: f64,
    pub(crate) width: f64,
    pub(crate) count: u64,
}

/// The 99th percentile of the values in `buckets` (one interval's counts): the upper bound of
/// the bucket holding the 99th-percentile value, so the figure errs on the slow side by at most
/// one bucket's width (Envoy's detailed buckets: 0.1 ms below 10 ms, 1 ms below 100 ms, 10 ms
/// below 1 s: about 10 %). `None` without values.
pub(crate) fn p99(buckets: &[Bucket]) -> Option<f64> {
    let mut sorted: Vec<Bucket> = buckets.iter().copied().filter(|b| b.count > 0).collect();
    sorted.sort_by(|a, b| a.lower.total_cmp(&b.lower));
    let total: u64 = sorted.iter().map(|b| b.count).sum();
    if total == 0 {
        return None;
    }
    // The rank of the 99th percentile, rounded up (nearest-rank method).
    let rank = (total * 99).div_ceil(100);
    let mut seen = 0;
    for b in &sorted {
        seen += b.count;
        if seen >= rank {
            return Some(b.lower + b.width);
        }
    }
    sorted.last().map(|b| b.lower + b.width)
}

/// `now − before` per bucket (by lower bound): the interval's own values from two cumulative
/// snapshots. A bucket that shrank (the cluster was re-created) counts from zero.
pub(crate) fn delta(before: &[Bucket], now: &[Bucket]) -> Vec<Bucket> {
    now.iter()
        .map(|b| {
            let old = before
                .iter()
                .find(|o| o.lower == b.lower)
                .map_or(0, |o| o.count);
            Bucket {
                count: if b.count >= old {
                    b.count - old
                } else {
                    b.count
                },
                ..*b
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(requests: u64, successes: u64, p99: Option<f64>) -> VersionFigures {
        Sample {
            requests,
            successes,
            p99_ms: p99,
        }
        .figures("h")
    }

    #[test]
    fn a_healthy_canary_passes() {
        let spec = CanarySpec::default();
        let (v, why) = evaluate(&spec, &fig(90, 90, Some(5.0)), &fig(10, 10, Some(6.0)));
        assert_eq!(v, Verdict::Pass, "{why}");
        assert!(why.contains("100.0%"), "{why}");
        assert!(why.contains("p99 6.0 ms <= 500 ms"), "{why}");
        // Sub-millisecond answers: Envoy records whole milliseconds.
        let (_, why) = evaluate(&spec, &fig(90, 90, Some(0.0)), &fig(10, 10, Some(0.0)));
        assert!(why.contains("p99 < 1 ms <= 500 ms"), "{why}");
    }

    #[test]
    fn failures_name_every_condition() {
        let spec = CanarySpec {
            max_p99_ratio: Some(2.0),
            ..CanarySpec::default()
        };
        let (v, why) = evaluate(&spec, &fig(50, 50, Some(10.0)), &fig(50, 35, Some(600.0)));
        assert_eq!(v, Verdict::Fail);
        assert!(why.contains("success rate 70.0% < 99%"), "{why}");
        assert!(why.contains("p99 600 ms > 500 ms"), "{why}");
        assert!(why.contains("2 x stable"), "{why}");
    }

    #[test]
    fn too_few_requests_or_none_to_the_canary_is_no_data() {
        let spec = CanarySpec::default();
        let (v, why) = evaluate(&spec, &fig(10, 10, None), &fig(5, 5, None));
        assert_eq!(v, Verdict::NoData);
        assert!(
            why.contains("15 requests") && why.contains("--min-requests 20"),
            "{why}"
        );
        let (v, why) = evaluate(&spec, &fig(100, 100, None), &fig(0, 0, None));
        assert_eq!(v, Verdict::NoData, "{why}");
    }

    #[test]
    fn p99_is_the_upper_bound_of_the_bucket_of_the_99th_value() {
        let b = |lower, width, count| Bucket {
            lower,
            width,
            count,
        };
        assert_eq!(p99(&[]), None);
        assert_eq!(p99(&[b(1.0, 0.1, 0)]), None);
        // 99 fast values and 1 slow: the 99th is fast.
        assert_eq!(p99(&[b(300.0, 10.0, 1), b(2.0, 0.1, 99)]), Some(2.1));
        // 98 fast and 2 slow: the 99th is slow.
        assert_eq!(p99(&[b(2.0, 0.1, 98), b(300.0, 10.0, 2)]), Some(310.0));
        let before = [b(2.0, 0.1, 50)];
        let now = [b(2.0, 0.1, 60), b(5.0, 0.1, 1)];
        assert_eq!(delta(&before, &now), vec![b(2.0, 0.1, 10), b(5.0, 0.1, 1)]);
        assert_eq!(
            delta(&[b(2.0, 0.1, 70)], &[b(2.0, 0.1, 3)]),
            vec![b(2.0, 0.1, 3)]
        );
    }
}
