//! `kyc-mesh split N`: send N requests and draw who answered as a terminal bar chart. The
//! target is the local gateway or aggregator (`--via`), or any URL (`--url`: a cluster's
//! gateway; `scripts/smoke.sh` uses it). Each request carries `--token` (or `KYC_TOKEN`) as a
//! bearer token; without one, a local target gets a demo token when the configuration the
//! running mesh applied verifies the demo issuer's tokens ([`local_token`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::snapshot::Sources;
use crate::topology::Ports;

/// Why the requests could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error(transparent)]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// Why a `--url` is not one `split` can send to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TargetError {
    #[error("{0:?} is not a URL ({1}); e.g. http://127.0.0.1/kyc/v1/customer?type=report")]
    Parse(String, String),
    #[error("{0:?}: only http:// and https:// URLs")]
    Scheme(String),
}

/// Where the requests go: `http(s)://host[:port]/path?query`, checked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target(reqwest::Url);

impl Target {
    /// `/kyc/v1/customer?type=<t>` on a local port (the gateway or the aggregator).
    pub(crate) fn local(port: u16, report_type: &str) -> Result<Self, TargetError> {
        let mut url = Self::parse(&format!("http://127.0.0.1:{port}/kyc/v1/customer"))?;
        url.0.query_pairs_mut().append_pair("type", report_type);
        Ok(url)
    }

    /// Any http(s) URL, used as given.
    pub(crate) fn parse(s: &str) -> Result<Self, TargetError> {
        let url =
            reqwest::Url::parse(s).map_err(|e| TargetError::Parse(s.to_string(), e.to_string()))?;
        match url.scheme() {
            "http" | "https" if url.has_host() => Ok(Target(url)),
            _ => Err(TargetError::Scheme(s.to_string())),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Target {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, TargetError> {
        Self::parse(s)
    }
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

/// Send `n` GET requests to `target`, `concurrency` at a time, each within `timeout`, and count
/// them per scorer.
pub(crate) async fn collect(
    target: &Target,
    n: usize,
    concurrency: usize,
    timeout: Duration,
    token: Option<&str>,
) -> Result<BTreeMap<String, usize>, SplitError> {
    let mut client = reqwest::Client::builder().timeout(timeout);
    if target.0.host_str().is_some_and(is_loopback) {
        // A proxy from the environment must not take requests meant for this machine.
        client = client.no_proxy();
    }
    let client = client.build()?;
    let url = target.0.clone();
    let token: Option<Arc<str>> = token.map(Arc::from);
    let counts = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, url, counts, next, token) = (
            client.clone(),
            url.clone(),
            counts.clone(),
            next.clone(),
            token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                let mut request = client.get(url.clone());
                if let Some(t) = &token {
                    request = request.bearer_auth(t);
                }
                let key = match request.send().await {
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

/// A demo token for the local mesh, when the configuration it applied (networking/ and the
/// scenario in `<state dir>/applied-scenario`) verifies the demo issuer's tokens at the KYC API;
/// `None` when it does not, or no mesh ran there.
pub(crate) fn local_token(networking: &Path, state_dir: &Path, ports: Ports) -> Option<String> {
    let scenario = crate::scenario::read_applied(state_dir)?;
    let snapshot = Sources::new(networking)
        .snapshot(scenario.as_deref(), ports)
        .ok()?;
    snapshot.end_user_auth().filter(|a| a.demo)?;
    crate::token::demo_token("kyc-mesh-split", Duration::from_secs(600)).ok()
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

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Send the requests and print the chart; true when a scorer answered every one.
pub(crate) async fn run(
    target: &Target,
    n: usize,
    concurrency: usize,
    timeout: Duration,
    token: Option<&str>,
) -> Result<bool, SplitError> {
    let with = if token.is_some() {
        " with a bearer token"
    } else {
        ""
    };
    println!("sending {n} requests to {target}{with}");
    let counts = collect(target, n, concurrency, timeout, token).await?;
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
    fn a_target_is_an_http_url() {
        assert_eq!(
            Target::local(8000, "report").expect("local").to_string(),
            "http://127.0.0.1:8000/kyc/v1/customer?type=report"
        );
        let cluster = Target::parse("http://192.168.49.2:31380/kyc/v1/customer?type=report")
            .expect("any host");
        assert_eq!(
            cluster.to_string(),
            "http://192.168.49.2:31380/kyc/v1/customer?type=report"
        );
        assert!(Target::parse("https://gw.example/kyc/v1/customer").is_ok());
        let e = Target::parse("ftp://gw.example/x").expect_err("scheme");
        assert!(e.to_string().contains("only http:// and https://"), "{e}");
        let e = Target::parse("127.0.0.1:8000/kyc").expect_err("no scheme");
        assert!(e.to_string().contains("\"127.0.0.1:8000/kyc\""), "{e}");
        assert!(Target::parse("http://").is_err());
        assert!(is_loopback("127.0.0.1") && is_loopback("localhost") && is_loopback("[::1]"));
        assert!(!is_loopback("192.168.49.2") && !is_loopback("gw.example"));
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
