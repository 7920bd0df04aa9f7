//! Settings: the common ones plus the gateway URL and the outbound timeout.

use std::time::Duration;

use kyc_common::configuration::{self, CommonSettings, ConfigurationError, EnvSource};
use serde::Deserialize;

/// Istio's ingress gateway as seen from inside the cluster: the default, so that nothing is edited when
/// minikube's IP changes.
pub const DEFAULT_GATEWAY_URL: &str = "http://istio-ingressgateway.istio-system.svc.cluster.local";
pub const DEFAULT_OUTBOUND_TIMEOUT_MS: i64 = 3000;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    /// Read on its own by `load_service`.
    #[serde(skip)]
    pub common: CommonSettings,
    /// `KYC_GATEWAY_URL`: where `/credit-check/*` is reached (the mesh's ingress gateway).
    pub gateway_url: String,
    /// `KYC_OUTBOUND_TIMEOUT_MS`: the whole call to the gateway, connect to last byte.
    pub outbound_timeout_ms: u64,
}

impl Settings {
    pub fn load() -> Result<Self, ConfigurationError> {
        Self::load_from(EnvSource::Process)
    }

    pub fn load_from(env: EnvSource) -> Result<Self, ConfigurationError> {
        let mut defaults = configuration::common_defaults("v1");
        defaults.push(("gateway_url", DEFAULT_GATEWAY_URL.into()));
        defaults.push(("outbound_timeout_ms", DEFAULT_OUTBOUND_TIMEOUT_MS.into()));
        let (common, settings) = configuration::load_service::<Settings>(defaults, env)?;
        let settings = Settings { common, ..settings };
        settings.gateway()?;
        if settings.outbound_timeout_ms == 0 {
            return Err(ConfigurationError::new(
                "outbound_timeout_ms",
                "must be greater than 0",
            ));
        }
        Ok(settings)
    }

    /// The gateway URL, parsed: http(s) with a host.
    pub fn gateway(&self) -> Result<reqwest::Url, ConfigurationError> {
        let url = reqwest::Url::parse(self.gateway_url.trim()).map_err(|e| {
            ConfigurationError::new(
                "gateway_url",
                format!("not a URL ({e}); e.g. http://127.0.0.1:8000"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigurationError::new(
                "gateway_url",
                "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000",
            ));
        }
        Ok(url)
    }

    pub fn outbound_timeout(&self) -> Duration {
        Duration::from_millis(self.outbound_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigurationError> {
        Settings::load_from(EnvSource::Map(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    #[test]
    fn defaults_point_at_the_in_cluster_ingress() {
        let s = load(&[]).expect("defaults");
        assert_eq!(s.gateway_url, DEFAULT_GATEWAY_URL);
        assert_eq!(s.outbound_timeout(), Duration::from_secs(3));
        assert_eq!(s.common.port, 8080);
    }

    #[test]
    fn gateway_url_and_timeout_are_validated() {
        assert_eq!(
            load(&[("KYC_GATEWAY_URL", "http://127.0.0.1:8000")])
                .expect("ok")
                .gateway_url,
            "http://127.0.0.1:8000"
        );
        for bad in ["localhost:8000", "ftp://x", "not a url", ""] {
            let err = load(&[("KYC_GATEWAY_URL", bad)]).expect_err(bad);
            assert_eq!(err.key, "KYC_GATEWAY_URL", "{bad}");
        }
        assert_eq!(
            load(&[("KYC_OUTBOUND_TIMEOUT_MS", "0")])
                .expect_err("0")
                .key,
            "KYC_OUTBOUND_TIMEOUT_MS"
        );
        assert_eq!(
            load(&[("KYC_OUTBOUND_TIMEOUT_MS", "soon")])
                .expect_err("soon")
                .key,
            "KYC_OUTBOUND_TIMEOUT_MS"
        );
    }
}
