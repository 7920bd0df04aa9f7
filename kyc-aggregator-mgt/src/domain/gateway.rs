//! The call to the credit-check service through the mesh's gateway (failures: [`GatewayError`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use kyc_common::domain::{ApplicantRequest, CreditCheckReport};
use kyc_common::error::ErrorBody;
use kyc_common::http::SERVED_BY_HEADER;
use kyc_common::otel::{Parent, Traced};
use kyc_common::propagation::outbound_headers;
use reqwest::Url;
use tokio::sync::Semaphore;

use super::{GatewayError, RequestedReport};

/// A scorer's report, as received.
#[derive(Debug)]
pub struct ScoredReport {
    /// The JSON body, passed on unchanged.
    pub body: Bytes,
    /// Who scored it (`service/version/instance`).
    pub scored_by: HeaderValue,
}

/// One shared HTTP client (and its connection pool) for every call to the gateway, with at most
/// `KYC_OUTBOUND_MAX_CONCURRENCY` calls in flight: an HTTP/1 connection carries one call at a time, so
/// that is also the most connections the pool opens.
#[derive(Clone, Debug)]
pub struct CreditCheckGateway {
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    limit: usize,
    base: Url,
    /// The three credit-check URLs (basic, advanced, report), built once.
    urls: [Url; 3],
    timeout: Duration,
}

/// `base` with the report's path appended (`http://gw/prefix` → `http://gw/prefix/credit-check/basic`).
fn endpoint(base: &Url, report: RequestedReport) -> Result<Url, String> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| format!("{base} cannot take a path"))?
        .pop_if_empty()
        .extend(report.path().trim_start_matches('/').split('/'));
    Ok(url)
}

impl CreditCheckGateway {
    pub fn new(base: Url, timeout: Duration, max_concurrency: usize) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(max_concurrency)
            .tcp_nodelay(true)
            .user_agent(concat!("kyc-aggregator-mgt/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let urls = [
            endpoint(&base, RequestedReport::Basic)?,
            endpoint(&base, RequestedReport::Advanced)?,
            endpoint(&base, RequestedReport::Canary)?,
        ];
        Ok(CreditCheckGateway {
            http,
            permits: Arc::new(Semaphore::new(max_concurrency)),
            limit: max_concurrency,
            base,
            urls,
            timeout,
        })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, report: RequestedReport) -> &Url {
        match report {
            RequestedReport::Basic => &self.urls[0],
            RequestedReport::Advanced => &self.urls[1],
            RequestedReport::Canary => &self.urls[2],
        }
    }

    /// POSTs the applicant to the report's route, forwarding the inbound tracing headers; with traces
    /// on, as a client span whose context the call carries. When every permitted call is in flight,
    /// [`GatewayError::Exhausted`] at once.
    pub async fn score(
        &self,
        report: RequestedReport,
        applicant: &ApplicantRequest,
        inbound: &HeaderMap,
        parent: &Parent,
    ) -> Result<ScoredReport, GatewayError> {
        let Ok(_permit) = self.permits.try_acquire() else {
            return Err(GatewayError::Exhausted { limit: self.limit });
        };
        let mut headers = outbound_headers(inbound, || uuid::Uuid::new_v4().to_string());
        let traced = kyc_common::otel::client_span(parent, "POST", report.path(), &mut headers);
        let result = self
            .exchange(self.url(report), headers, applicant, &traced)
            .await;
        traced.end(None);
        result
    }

    async fn exchange(
        &self,
        url: &Url,
        headers: HeaderMap,
        applicant: &ApplicantRequest,
        traced: &Traced,
    ) -> Result<ScoredReport, GatewayError> {
        let response = self
            .http
            .post(url.clone())
            .headers(headers)
            .json(applicant)
            .send()
            .await
            .map_err(|e| self.transport_error(url, &e))?;
        let status = response.status();
        traced.record_status(status);
        let scored_by = response.headers().get(SERVED_BY_HEADER).cloned();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(url, &e))?;
        let url = url.clone();
        if status.is_success() {
            let report: CreditCheckReport = serde_json::from_slice(&body)
                .map_err(|_| GatewayError::NotAReport { url, status })?;
            let scored_by = scored_by
                .or_else(|| HeaderValue::from_str(&report.served_by.header_value()).ok())
                .unwrap_or_else(|| HeaderValue::from_static("unknown"));
            return Ok(ScoredReport { body, scored_by });
        }
        Err(match serde_json::from_slice::<ErrorBody>(&body).ok() {
            Some(body) if status.is_client_error() => GatewayError::Refused { status, body },
            Some(body) => GatewayError::Failed { url, status, body },
            None => GatewayError::Unexpected { url, status },
        })
    }

    fn transport_error(&self, url: &Url, e: &reqwest::Error) -> GatewayError {
        let url = url.clone();
        if e.is_timeout() {
            GatewayError::Timeout {
                url,
                timeout: self.timeout,
            }
        } else if e.is_connect() {
            GatewayError::Unreachable {
                base: self.base.clone(),
            }
        } else {
            GatewayError::Broken { url }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_the_base_path() {
        let at = |base: &str, report| {
            let base = Url::parse(base).expect("a URL");
            endpoint(&base, report).map(|u| u.to_string())
        };
        assert_eq!(
            at("http://127.0.0.1:8000", RequestedReport::Basic).as_deref(),
            Ok("http://127.0.0.1:8000/credit-check/basic")
        );
        assert_eq!(
            at("http://gw/prefix/", RequestedReport::Canary).as_deref(),
            Ok("http://gw/prefix/credit-check/report")
        );
    }
}
