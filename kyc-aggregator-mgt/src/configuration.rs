//! Settings: the common ones plus the gateway URL and the outbound timeout.

use std::str::FromStr;
use std::time::Duration;

use kyc_common::configuration::{
    CommonSettings, ConfigurationError, Layers, Millis, ServiceSettings,
};
use reqwest::Url;

/// Istio's ingress gateway as seen from inside the cluster: the default, so that nothing is edited when
/// minikube's IP changes.
pub const DEFAULT_GATEWAY_URL: &str = "http://istio-ingressgateway.istio-system.svc.cluster.local";
pub const DEFAULT_OUTBOUND_TIMEOUT_MS: &str = "3000";
/// Calls to the gateway in flight at once (and connections to it): half of `KYC_MAX_CONCURRENT_REQUESTS`'
/// default, so a burst is shed here at once rather than piled onto the gateway.
pub const DEFAULT_OUTBOUND_MAX_CONCURRENCY: &str = "128";

#[derive(Clone, Debug)]
pub struct Settings {
    pub common: CommonSettings,
    /// `KYC_GATEWAY_URL`: where `/credit-check/*` is reached (the mesh's ingress gateway).
    pub gateway_url: Url,
    /// `KYC_OUTBOUND_TIMEOUT_MS`: the whole call to the gateway, connect to last byte.
    pub outbound_timeout: Duration,
    /// `KYC_OUTBOUND_MAX_CONCURRENCY`: calls to the gateway in flight at once (so also the most
    /// connections to it); one more is answered 503 at once.
    pub outbound_max_concurrency: usize,
}

/// An http:// or https:// URL with a host.
pub struct GatewayUrl(pub Url);

impl FromStr for GatewayUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(s.trim())
            .map_err(|e| format!("not a URL ({e}); e.g. http://127.0.0.1:8000"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(
                "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8000".into(),
            );
        }
        Ok(GatewayUrl(url))
    }
}

impl ServiceSettings for Settings {
    fn read(layers: &Layers) -> Result<Self, ConfigurationError> {
        let common = CommonSettings::read(layers, "v1")?;
        let GatewayUrl(gateway_url) = layers.get_or("gateway_url", DEFAULT_GATEWAY_URL)?;
        let Millis(outbound_timeout) =
            layers.get_or("outbound_timeout_ms", DEFAULT_OUTBOUND_TIMEOUT_MS)?;
        if outbound_timeout.is_zero() {
            return Err(ConfigurationError::new(
                "outbound_timeout_ms",
                "must be greater than 0",
            ));
        }
        let outbound_max_concurrency: usize =
            layers.get_or("outbound_max_concurrency", DEFAULT_OUTBOUND_MAX_CONCURRENCY)?;
        if !(1..=4096).contains(&outbound_max_concurrency) {
            return Err(ConfigurationError::new(
                "outbound_max_concurrency",
                format!("{outbound_max_concurrency}: must be between 1 and 4096"),
            ));
        }
        Ok(Settings {
            common,
            gateway_url,
            outbound_timeout,
            outbound_max_concurrency,
        })
    }

    fn common(&self) -> &CommonSettings {
        &self.common
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_common::configuration::EnvSource;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigurationError> {
        Settings::load_from(EnvSource::Map(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    #[test]
    fn defaults_point_at_the_in_cluster_ingress() {
        let s = load(&[]).expect("defaults");
        assert_eq!(s.gateway_url, url(DEFAULT_GATEWAY_URL));
        assert_eq!(s.outbound_timeout, Duration::from_secs(3));
        assert_eq!(s.outbound_max_concurrency, 128);
        assert_eq!(s.common.port, 8080);
    }

    #[test]
    fn gateway_url_and_timeout_are_validated() {
        assert_eq!(
            load(&[("KYC_GATEWAY_URL", "http://127.0.0.1:8000")])
                .expect("ok")
                .gateway_url,
            url("http://127.0.0.1:8000")
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
        for bad in ["0", "5000", "many", "-1"] {
            let err = load(&[("KYC_OUTBOUND_MAX_CONCURRENCY", bad)]).expect_err(bad);
            assert_eq!(err.key, "KYC_OUTBOUND_MAX_CONCURRENCY", "{bad}");
        }
        assert_eq!(
            load(&[("KYC_OUTBOUND_MAX_CONCURRENCY", "8")])
                .expect("ok")
                .outbound_max_concurrency,
            8
        );
        assert_eq!(
            load(&[("KYC_OUTBOUND_TIMEOUT_MS", "soon")])
                .expect_err("soon")
                .key,
            "KYC_OUTBOUND_TIMEOUT_MS"
        );
    }
}
