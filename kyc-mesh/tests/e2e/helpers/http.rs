//! The test client: GETs that record who answered, and tallies of many of them.

use std::collections::BTreeMap;
use std::time::Duration;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub served_by: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

pub async fn get(c: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut rb = c.get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    let served_by = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.pointer("/servedBy/service")
                .and_then(|s| s.as_str())
                .map(String::from)
        })
        .or_else(|| {
            headers
                .get("x-kyc-served-by")
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.split('/').next())
                .map(String::from)
        });
    Answer {
        status,
        served_by,
        headers,
        body,
    }
}

/// n sequential GETs; returns (count per served_by or "HTTP <status>").
pub async fn tally(
    c: &reqwest::Client,
    url: &str,
    n: usize,
    headers: &[(&str, &str)],
) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let a = get(c, url, headers).await;
        let key = if a.status == 200 {
            a.served_by.unwrap_or_else(|| "unknown".into())
        } else {
            format!("HTTP {}", a.status)
        };
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

/// How many answers a tally counted for `k`.
pub fn count(m: &BTreeMap<String, usize>, k: &str) -> usize {
    m.get(k).copied().unwrap_or(0)
}

/// The dashboard's `GET /api/state` on `port`, `None` while it does not answer with JSON.
pub async fn dashboard_state(port: u16) -> Option<serde_json::Value> {
    let r = client()
        .get(format!("http://127.0.0.1:{port}/api/state"))
        .send()
        .await
        .ok()?;
    r.json().await.ok()
}
