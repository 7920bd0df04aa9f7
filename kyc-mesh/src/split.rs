//! `kyc-mesh split N`: send N requests and draw who answered as a terminal bar chart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

/// Why the requests could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error(transparent)]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Gateway,
    Aggregator,
}

/// Which scorer answered one response: `servedBy.service` of the body, else the
/// `x-kyc-scored-by` header, else the HTTP status.
pub(crate) fn classify(status: u16, scored_by: Option<&str>, body: &str) -> String {
    if status == 200 {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
            if let Some(s) = v.pointer("/servedBy/service").and_then(|s| s.as_str()) {
                return s.to_string();
            }
        }
        if let Some(h) = scored_by {
            return h.split('/').next().unwrap_or(h).to_string();
        }
    }
    format!("HTTP {status}")
}

/// Send `n` requests to 127.0.0.1:port/kyc/v1/customer?type=<t> and count per scorer.
pub(crate) async fn collect(
    port: u16,
    n: usize,
    concurrency: usize,
    t: &str,
) -> Result<BTreeMap<String, usize>, SplitError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()?;
    let url = format!("http://127.0.0.1:{port}/kyc/v1/customer?type={t}");
    let counts = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, url, counts, next) =
            (client.clone(), url.clone(), counts.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                let key = match client.get(&url).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let h = r
                            .headers()
                            .get("x-kyc-scored-by")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let body = r.text().await.unwrap_or_default();
                        classify(status, h.as_deref(), &body)
                    }
                    Err(e) => format!(
                        "error: {}",
                        if e.is_connect() {
                            "connection refused"
                        } else if e.is_timeout() {
                            "timeout"
                        } else {
                            "request failed"
                        }
                    ),
                };
                *counts.lock().await.entry(key).or_default() += 1;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let out = counts.lock().await.clone();
    Ok(out)
}

pub(crate) fn chart(counts: &BTreeMap<String, usize>) -> String {
    let total: usize = counts.values().sum();
    let width = counts.keys().map(|k| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in counts {
        let pct = if total == 0 {
            0.0
        } else {
            *v as f64 * 100.0 / total as f64
        };
        let bar = "█".repeat((pct / 2.0).round() as usize);
        out.push_str(&format!("{k:<width$}  {bar:<50} {v:>5}  {pct:5.1}%\n"));
    }
    out.push_str(&format!("{:<width$}  {:<50} {total:>5}\n", "total", ""));
    out
}

/// Send the requests and print the chart; true when a scorer answered every one.
pub(crate) async fn run(
    port: u16,
    n: usize,
    concurrency: usize,
    t: &str,
) -> Result<bool, SplitError> {
    println!("sending {n} requests to http://127.0.0.1:{port}/kyc/v1/customer?type={t}");
    let counts = collect(port, n, concurrency, t).await?;
    print!("{}", chart(&counts));
    let failed = counts
        .keys()
        .any(|k| k.starts_with("HTTP") || k.starts_with("error"));
    Ok(!failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_body_then_header_then_status() {
        assert_eq!(
            classify(
                200,
                None,
                r#"{"servedBy":{"service":"kyc-credit-check-basic"}}"#
            ),
            "kyc-credit-check-basic"
        );
        assert_eq!(
            classify(200, Some("kyc-credit-check-advanced/v2/h"), "{}"),
            "kyc-credit-check-advanced"
        );
        assert_eq!(classify(503, None, ""), "HTTP 503");
    }

    #[test]
    fn chart_has_one_bar_per_scorer() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), 50);
        m.insert("b".to_string(), 50);
        let c = chart(&m);
        assert_eq!(c.lines().count(), 3);
        assert!(c.contains(&"█".repeat(25)));
    }
}
