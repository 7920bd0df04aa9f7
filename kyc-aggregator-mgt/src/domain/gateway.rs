//! The call to the credit-check service through the mesh's gateway.
//!
//! | what happens | answer |
//! |---|---|
//! | the scorer answers 2xx with a report | 200, the report as the scorer wrote it, `x-kyc-scored-by` |
//! | the scorer answers 4xx with the error body | the same status and body (its `KYC-CRD-CHK-…` code) |
//! | the gateway or scorer answers 5xx (or a 4xx without the error body, e.g. no route) | 502 `KYC-10502` |
//! | nothing listens at the gateway address | 502 `KYC-10502`, at once |
//! | no complete answer within `KYC_OUTBOUND_TIMEOUT_MS` | 504 `KYC-10504` |

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use kyc_common::domain::{ApplicantRequest, CreditCheckReport};
use kyc_common::error::{ApiError, ErrorBody, ErrorKind, ErrorNamespace};
use kyc_common::propagation::outbound_headers;
use kyc_common::startup::SERVED_BY_HEADER;

use super::RequestedReport;

/// A scorer's report, as received.
#[derive(Debug)]
pub struct ScoredReport {
    /// The JSON body, passed on unchanged.
    pub body: Bytes,
    /// Who scored it (`service/version/instance`).
    pub scored_by: HeaderValue,
}

/// One shared HTTP client (and its connection pool) for every call to the gateway.
#[derive(Clone, Debug)]
pub struct CreditCheckGateway {
    http: reqwest::Client,
    base: reqwest::Url,
    /// The three credit-check URLs, parsed once (basic, advanced, report).
    urls: [reqwest::Url; 3],
    timeout: Duration,
    errors: ErrorNamespace,
}

impl CreditCheckGateway {
    pub fn new(
        base: reqwest::Url,
        timeout: Duration,
        errors: ErrorNamespace,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .user_agent(concat!("kyc-aggregator-mgt/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let url = |report: RequestedReport| {
            let joined = format!("{}{}", base.as_str().trim_end_matches('/'), report.path());
            reqwest::Url::parse(&joined).map_err(|e| format!("bad gateway URL {joined}: {e}"))
        };
        let urls = [
            url(RequestedReport::Basic)?,
            url(RequestedReport::Advanced)?,
            url(RequestedReport::Canary)?,
        ];
        Ok(CreditCheckGateway {
            http,
            base,
            urls,
            timeout,
            errors,
        })
    }

    pub fn base(&self) -> &reqwest::Url {
        &self.base
    }

    fn url(&self, report: RequestedReport) -> &reqwest::Url {
        match report {
            RequestedReport::Basic => &self.urls[0],
            RequestedReport::Advanced => &self.urls[1],
            RequestedReport::Canary => &self.urls[2],
        }
    }

    /// POSTs the applicant to the report's route, forwarding the inbound tracing headers.
    pub async fn score(
        &self,
        report: RequestedReport,
        applicant: &ApplicantRequest,
        inbound: &HeaderMap,
    ) -> Result<ScoredReport, ApiError> {
        let url = self.url(report);
        let headers = outbound_headers(inbound, || uuid::Uuid::new_v4().to_string());
        let sent = self
            .http
            .post(url.clone())
            .headers(headers)
            .json(applicant)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Err(self.transport_error(url.as_str(), &e)),
        };
        let status = response.status();
        let scored_by = response.headers().get(SERVED_BY_HEADER).cloned();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return Err(self.transport_error(url.as_str(), &e)),
        };
        let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        if status.is_success() {
            let report: CreditCheckReport = serde_json::from_slice(&body).map_err(|_| {
                self.errors.error(
                    ErrorKind::BadGateway,
                    format!("{url} answered {status} without a credit-check report"),
                )
            })?;
            let scored_by = scored_by
                .or_else(|| HeaderValue::from_str(&report.served_by.header_value()).ok())
                .unwrap_or_else(|| HeaderValue::from_static("unknown"));
            return Ok(ScoredReport { body, scored_by });
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        match error {
            Some(error) if status.is_client_error() => Err(ApiError::passthrough(status, error)),
            Some(error) => Err(self.errors.error(
                ErrorKind::BadGateway,
                format!(
                    "{url} answered {status}: {} ({})",
                    error.error_message, error.error_code
                ),
            )),
            None => Err(self
                .errors
                .error(ErrorKind::BadGateway, format!("{url} answered {status}"))),
        }
    }

    fn transport_error(&self, url: &str, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() {
            self.errors.error(
                ErrorKind::GatewayTimeout,
                format!(
                    "{url} did not answer within {} ms (KYC_OUTBOUND_TIMEOUT_MS)",
                    self.timeout.as_millis()
                ),
            )
        } else if e.is_connect() {
            self.errors.error(
                ErrorKind::BadGateway,
                format!(
                    "cannot connect to the credit-check gateway at {} (KYC_GATEWAY_URL)",
                    self.base
                ),
            )
        } else {
            self.errors.error(
                ErrorKind::BadGateway,
                format!("the call to {url} failed: the connection broke before a complete answer"),
            )
        }
    }
}
