//! The settings every service has.

use std::net::IpAddr;
use std::time::Duration;

use super::{ConfigurationError, Label, Layers, LogFormat, LogLevel, Millis, ServerLimits, Share};

/// Settings every service has, typed.
#[derive(Clone, Debug)]
pub struct CommonSettings {
    /// `KYC_HOST`: address to listen on.
    pub host: IpAddr,
    /// `KYC_PORT`: port to listen on (0 picks a free one).
    pub port: u16,
    /// `KYC_LOG_FORMAT`: `json` (one JSON object a line) or `pretty` (for people).
    pub log_format: LogFormat,
    /// `KYC_LOG_LEVEL`: `error`, `warn`, `info`, `debug` or `trace`; applies to this project's code.
    pub log_level: LogLevel,
    /// `KYC_DRAIN_MS`: after SIGTERM, how long readiness answers 503 while requests are still served.
    pub drain: Duration,
    /// `KYC_SERVICE_VERSION`: the version label reported in `servedBy`.
    pub service_version: Label,
    /// `KYC_INSTANCE`: instance name reported in `servedBy`; the host name when unset.
    pub instance: Option<Label>,
    /// `KYC_CHAOS_ERROR_RATE`: share (0..1) of business requests answered 503.
    pub chaos_error_rate: Share,
    /// `KYC_CHAOS_DELAY_MS`: latency added to business requests.
    pub chaos_delay: Duration,
    /// `KYC_CHAOS_API`: `true` mounts `PUT/DELETE /admin/chaos` (runtime chaos, set by the local mesh
    /// only); `false` (default) keeps the env knobs fixed for the life of the process.
    pub chaos_api: bool,
    /// Connections, request-head size and time, requests in flight: see [`ServerLimits`].
    pub limits: ServerLimits,
    /// `KYC_METRICS`: `true` (default) records `/metrics`; `false` only for measuring their cost.
    pub metrics: bool,
}

impl CommonSettings {
    /// Reads the common settings; `service_version` is this service's default version label.
    pub fn read(layers: &Layers, service_version: &str) -> Result<Self, ConfigurationError> {
        Ok(CommonSettings {
            host: layers.get_or("host", "0.0.0.0")?,
            port: layers.get_or("port", "8080")?,
            log_format: layers.get_or("log_format", "json")?,
            log_level: layers.get_or("log_level", "info")?,
            drain: layers.get_or::<Millis>("drain_ms", "0")?.0,
            service_version: layers.get_or("service_version", service_version)?,
            instance: layers.optional("instance")?,
            chaos_error_rate: layers.get_or("chaos_error_rate", "0")?,
            chaos_delay: layers.get_or::<Millis>("chaos_delay_ms", "0")?.0,
            chaos_api: layers.get_or("chaos_api", "false")?,
            limits: ServerLimits::read(layers)?,
            metrics: layers.get_or("metrics", "true")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::EnvSource;
    use super::*;

    fn load_common(vars: &[(&str, &str)]) -> Result<CommonSettings, ConfigurationError> {
        let map = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CommonSettings::read(&Layers::read(EnvSource::Map(map))?, "v1")
    }

    #[test]
    fn defaults_apply() {
        let s = load_common(&[]).expect("defaults are valid");
        assert_eq!(s.port, 8080);
        assert_eq!(s.host, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.drain, Duration::ZERO);
        assert_eq!(s.service_version.as_str(), "v1");
        assert_eq!(s.chaos_error_rate.get(), 0.0);
        assert!(s.instance.is_none());
        assert!(!s.chaos_api, "runtime chaos is off unless asked for");
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = load_common(&[
            ("KYC_PORT", "9000"),
            ("KYC_CHAOS_ERROR_RATE", "0.25"),
            ("KYC_INSTANCE", "pod-a"),
            ("KYC_LOG_FORMAT", "pretty"),
        ])
        .expect("valid");
        assert_eq!(s.port, 9000);
        assert_eq!(s.chaos_error_rate.get(), 0.25);
        assert_eq!(s.instance.as_ref().map(Label::as_str), Some("pod-a"));
        assert_eq!(s.log_format, LogFormat::Pretty);
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        for (var, value) in [
            ("KYC_PORT", "http"),
            ("KYC_PORT", "70000"),
            ("KYC_DRAIN_MS", "-5"),
            ("KYC_CHAOS_ERROR_RATE", "2"),
            ("KYC_LOG_FORMAT", "xml"),
            ("KYC_LOG_LEVEL", "loud"),
            ("KYC_HOST", "not an address"),
            ("KYC_SERVICE_VERSION", "v 2"),
            ("KYC_INSTANCE", "pod/1"),
            ("KYC_METRICS", "maybe"),
            ("KYC_CHAOS_API", "yes please"),
        ] {
            let err = load_common(&[(var, value)]).expect_err(var);
            assert_eq!(err.key, var, "{value}: {err}");
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn a_file_sits_between_defaults_and_environment() {
        let dir = std::env::temp_dir().join(format!("kyc-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("kyc.toml");
        std::fs::write(&path, "port = 7000\ndrain_ms = 250\n").expect("write");
        let file = path.to_string_lossy().to_string();
        let s = load_common(&[("KYC_CONFIG_FILE", &file), ("KYC_DRAIN_MS", "500")]).expect("valid");
        assert_eq!(s.port, 7000);
        assert_eq!(s.drain, Duration::from_millis(500));
        let err =
            load_common(&[("KYC_CONFIG_FILE", "/nonexistent/kyc.toml")]).expect_err("missing file");
        assert!(err.to_string().contains("kyc.toml"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
