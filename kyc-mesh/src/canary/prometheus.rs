//! The cluster's figures: Istio's standard metrics in Prometheus, with the PromQL of Flagger's
//! Istio provider (`reporter="destination"`, by `destination_workload`): the destination side
//! counts every attempt that reached a pod, retried ones included.

use std::time::Duration;

use serde::Deserialize;

use super::analysis::Sample;
use super::{CanaryError, Metrics};

pub(crate) struct PrometheusMetrics {
    client: reqwest::Client,
    /// Base URL, e.g. `http://127.0.0.1:9090`.
    url: String,
    namespace: String,
    /// `destination_workload` of the stable and canary versions (their Deployments).
    workloads: [String; 2],
}

/// The three queries for one workload over `[secs]s`, as Flagger writes them (counts instead
/// of rates: `increase` over the interval).
pub(crate) fn queries(namespace: &str, workload: &str, secs: u64) -> [String; 3] {
    let sel = format!(
        r#"reporter="destination",destination_workload_namespace="{namespace}",destination_workload="{workload}""#
    );
    [
        format!("sum(increase(istio_requests_total{{{sel}}}[{secs}s]))"),
        format!(r#"sum(increase(istio_requests_total{{{sel},response_code!~"5.*"}}[{secs}s]))"#),
        format!(
            "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{{sel}}}[{secs}s])) by (le))"
        ),
    ]
}

impl PrometheusMetrics {
    pub(crate) fn new(
        url: &str,
        namespace: &str,
        stable: &str,
        canary: &str,
    ) -> Result<Self, CanaryError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(CanaryError::Client)?;
        Ok(PrometheusMetrics {
            client,
            url: url.trim_end_matches('/').to_string(),
            namespace: namespace.to_string(),
            workloads: [stable.to_string(), canary.to_string()],
        })
    }

    /// One instant query: its single value, `None` for an empty result or NaN.
    async fn scalar(&self, query: &str) -> Result<Option<f64>, CanaryError> {
        let url = format!("{}/api/v1/query", self.url);
        let r = self
            .client
            .get(&url)
            .query(&[("query", query)])
            .send()
            .await
            .map_err(|error| CanaryError::Prometheus {
                url: self.url.clone(),
                error,
            })?;
        let status = r.status();
        let body: Answer = r
            .json()
            .await
            .map_err(|error| CanaryError::PrometheusJson { status, error })?;
        if body.status != "success" {
            return Err(CanaryError::PrometheusRefused {
                query: query.to_string(),
                error: body.error.unwrap_or_default(),
            });
        }
        let data = body.data.ok_or(CanaryError::PrometheusNoData)?;
        let Some(first) = data.result.first() else {
            return Ok(None);
        };
        let v: f64 = first
            .value
            .1
            .parse()
            .map_err(|_| CanaryError::NotANumber(first.value.1.clone()))?;
        Ok(v.is_finite().then_some(v))
    }

    async fn sample(&self, workload: &str, secs: u64) -> Result<Sample, CanaryError> {
        let [total, ok, p99] = queries(&self.namespace, workload, secs);
        let requests = self.scalar(&total).await?.unwrap_or(0.0).round() as u64;
        let successes = self.scalar(&ok).await?.unwrap_or(0.0).round() as u64;
        Ok(Sample {
            requests,
            successes: successes.min(requests),
            p99_ms: self.scalar(&p99).await?,
        })
    }
}

impl Metrics for PrometheusMetrics {
    async fn mark(&mut self) -> Result<(), CanaryError> {
        Ok(())
    }

    async fn read(&mut self, interval: Duration) -> Result<(Sample, Sample), CanaryError> {
        let secs = interval.as_secs().max(1);
        let stable = self.sample(&self.workloads[0], secs).await?;
        let canary = self.sample(&self.workloads[1], secs).await?;
        Ok((stable, canary))
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    result: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    value: (f64, String),
}
