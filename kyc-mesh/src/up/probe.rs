//! HTTP to one service instance: its `/readyz`, and its runtime chaos (`PUT`/`DELETE
//! /admin/chaos`, mounted because the mesh starts services with `KYC_CHAOS_API=true`).

use std::time::Duration;

use crate::ops::ChaosSetting;

/// Why an instance did not take its chaos setting.
#[derive(Debug, thiserror::Error)]
pub enum ChaosPushError {
    #[error("{0}")]
    Client(String),
    #[error("{url} answered 404: the service runs without KYC_CHAOS_API=true")]
    NoChaosApi { url: String },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("{url}: {error}")]
    Unreachable { url: String, error: String },
}

/// The client of readiness checks (1 s per answer).
pub(super) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .no_proxy()
        .build()
}

pub(super) fn readyz(port: u16) -> String {
    format!("http://127.0.0.1:{port}/readyz")
}

/// Poll `url` until it answers 200 or `timeout` passes.
pub(super) async fn wait_http_ok(client: &reqwest::Client, url: &str, timeout: Duration) -> bool {
    crate::apply::admin::poll(timeout, Duration::from_millis(50), || async {
        matches!(client.get(url).send().await, Ok(r) if r.status().as_u16() == 200).then_some(())
    })
    .await
    .is_some()
}

/// Send `setting` (`None`: off) to the instance on `port`.
pub(super) async fn push_chaos(
    port: u16,
    setting: Option<ChaosSetting>,
) -> Result<(), ChaosPushError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .map_err(|e| ChaosPushError::Client(e.to_string()))?;
    let url = format!("http://127.0.0.1:{port}/admin/chaos");
    let request = match setting {
        Some(s) => client.put(&url).json(&s),
        None => client.delete(&url),
    };
    match request.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if r.status().as_u16() == 404 => Err(ChaosPushError::NoChaosApi { url }),
        Ok(r) => Err(ChaosPushError::Status {
            url,
            status: r.status(),
            body: r.text().await.unwrap_or_default(),
        }),
        Err(e) => Err(ChaosPushError::Unreachable {
            url,
            error: e.to_string(),
        }),
    }
}
