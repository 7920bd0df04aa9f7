//! OTLP/HTTP (`http/protobuf`) export of span batches: [`encode`]d straight from `SpanData` into one
//! buffer per batch, POSTed with a blocking `reqwest` client from the batch processor's
//! own thread (as `opentelemetry-otlp`'s blocking client did; no request's task ever waits for it).
//!
//! The configuration is the standard one, resolved as `opentelemetry-otlp` resolves it:
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is), else `OTEL_EXPORTER_OTLP_ENDPOINT` +
//! `/v1/traces`, else `http://localhost:4318/v1/traces`; `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` /
//! `OTEL_EXPORTER_OTLP_TIMEOUT` in ms (default 10 s); `OTEL_EXPORTER_OTLP_HEADERS` then
//! `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (`key=value,…`, values percent-decoded).

use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use super::encode::{self, Preamble};

const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
const TRACES_PATH: &str = "/v1/traces";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how batches are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub endpoint: String,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
}

impl Config {
    /// The configuration from the environment (`var` reads a variable).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let (endpoint, from) = match (
            set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            set("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(endpoint), _) => (
                endpoint.trim().to_owned(),
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            ),
            (None, Some(base)) => (join(base.trim()), "OTEL_EXPORTER_OTLP_ENDPOINT"),
            (None, None) => (join(DEFAULT_ENDPOINT), "the default endpoint"),
        };
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| format!("{from}: invalid OTLP traces endpoint '{endpoint}': {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{from}: invalid OTLP traces endpoint '{endpoint}': not http(s)"
            ));
        }
        let millis = |name: &str| set(name).and_then(|v| v.trim().parse::<u64>().ok());
        let timeout = millis("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| millis("OTEL_EXPORTER_OTLP_TIMEOUT"))
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        let mut headers = Vec::new();
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(value) = set(name) {
                headers.extend(parse_headers(&value));
            }
        }
        Ok(Config {
            endpoint,
            timeout,
            headers,
        })
    }
}

/// `base` + `/v1/traces`, without doubling the slash.
fn join(base: &str) -> String {
    format!("{}{TRACES_PATH}", base.strip_suffix('/').unwrap_or(base))
}

/// `key=value,key2=value2` (values percent-decoded); malformed pairs are skipped.
fn parse_headers(value: &str) -> impl Iterator<Item = (String, String)> + '_ {
    value.split(',').filter_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .ok()?;
        Some((key.trim().to_owned(), value.into_owned()))
    })
}

/// The HTTP exporter: the client, the request headers and the encoded resource.
pub struct HttpExporter {
    client: reqwest::blocking::Client,
    config: Config,
    headers: HeaderMap,
    preamble: Preamble,
}

impl std::fmt::Debug for HttpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExporter")
            .field("endpoint", &self.config.endpoint)
            .finish_non_exhaustive()
    }
}

impl HttpExporter {
    pub fn new(config: Config) -> Result<HttpExporter, String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| format!("OTLP header name '{name}': {e}"))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| format!("OTLP header '{name}': {e}"))?;
            headers.insert(name, value);
        }
        let timeout = config.timeout;
        // A blocking client must not be built (nor dropped) on a Tokio runtime thread: it owns one.
        let client = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .join()
        .map_err(|_| "cannot build the OTLP HTTP client".to_owned())?
        .map_err(|e| format!("cannot build the OTLP HTTP client: {e}"))?;
        Ok(HttpExporter {
            client,
            config,
            headers,
            preamble: Preamble::default(),
        })
    }

    pub fn set_resource(&mut self, resource: &Resource) {
        self.preamble = Preamble::new(resource);
    }

    /// Encodes and POSTs one batch (called on the batch processor's thread).
    pub fn export(&self, batch: &[SpanData]) -> OTelSdkResult {
        // One allocation of the exact size (handed to the client), per batch, not per span.
        let mut body = Vec::new();
        encode::request(&mut body, &self.preamble, batch);
        let response = self
            .client
            .post(&self.config.endpoint)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .map_err(|e| OTelSdkError::InternalFailure(format!("OTLP export: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(OTelSdkError::InternalFailure(format!(
                "OTLP export: the collector answered {status}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_env(|k| vars.get(k).cloned())
    }

    #[test]
    fn endpoints_resolve_as_the_specification_says() {
        assert_eq!(
            config(&[]).unwrap().endpoint,
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])
                .unwrap()
                .endpoint,
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            config(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom")
            ])
            .unwrap()
            .endpoint,
            "http://t:1/custom"
        );
        let err = config(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url")]).unwrap_err();
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") && err.contains("not a url"),
            "{err}"
        );
        let err = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://c:21")]).unwrap_err();
        assert!(
            err.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT") && err.contains("not http(s)"),
            "{err}"
        );
    }

    #[test]
    fn timeout_and_headers_come_from_the_standard_variables() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b=x%20y,broken"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "c=3"),
        ])
        .unwrap();
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(
            c.headers,
            [("a", "1"), ("b", "x y"), ("c", "3")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "100"),
        ])
        .unwrap();
        assert_eq!(c.timeout, Duration::from_millis(100));
        assert_eq!(config(&[]).unwrap().timeout, DEFAULT_TIMEOUT);
    }
}
