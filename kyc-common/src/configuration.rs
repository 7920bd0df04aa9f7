//! Configuration: built-in defaults, then an optional file named by `KYC_CONFIG_FILE` (TOML, YAML or
//! JSON by extension), then `KYC_*` environment variables (`KYC_PORT` sets `port`).
//!
//! A value that does not fit stops the service before it binds, with a message naming the variable.

use std::collections::HashMap;
use std::time::Duration;

use config::{Config, Environment, File, Value};
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub const ENV_PREFIX: &str = "KYC";
pub const CONFIG_FILE_VAR: &str = "KYC_CONFIG_FILE";

/// A configuration value that does not fit, named by its environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {key}: {problem}")]
pub struct ConfigurationError {
    /// The environment variable (`KYC_PORT`), or the file for errors reading it.
    pub key: String,
    pub problem: String,
}

impl ConfigurationError {
    pub fn new(key_or_field: &str, problem: impl Into<String>) -> Self {
        ConfigurationError {
            key: env_name(key_or_field),
            problem: problem.into(),
        }
    }
}

/// `gateway_url` → `KYC_GATEWAY_URL`.
pub fn env_name(key: &str) -> String {
    if key.starts_with("KYC_") {
        key.to_owned()
    } else {
        format!("{ENV_PREFIX}_{}", key.to_ascii_uppercase())
    }
}

/// Settings every service has.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CommonSettings {
    /// `KYC_HOST`: address to listen on.
    pub host: String,
    /// `KYC_PORT`: port to listen on (0 picks a free one).
    pub port: u16,
    /// `KYC_LOG_FORMAT`: `json` (one JSON object a line) or `pretty` (for people).
    pub log_format: String,
    /// `KYC_LOG_LEVEL`: `error`, `warn`, `info`, `debug` or `trace`; applies to this project's code.
    pub log_level: String,
    /// `KYC_DRAIN_MS`: after SIGTERM, how long readiness answers 503 while requests are still served.
    pub drain_ms: u64,
    /// `KYC_SERVICE_VERSION`: the version label reported in `servedBy`.
    pub service_version: String,
    /// `KYC_INSTANCE`: instance name reported in `servedBy`; the host name when unset.
    #[serde(default)]
    pub instance: Option<String>,
    /// `KYC_CHAOS_ERROR_RATE`: share (0..1) of business requests answered 503.
    pub chaos_error_rate: f64,
    /// `KYC_CHAOS_DELAY_MS`: latency added to business requests.
    pub chaos_delay_ms: u64,
}

impl CommonSettings {
    pub fn drain(&self) -> Duration {
        Duration::from_millis(self.drain_ms)
    }

    pub fn chaos_delay(&self) -> Duration {
        Duration::from_millis(self.chaos_delay_ms)
    }

    pub fn validate(&self) -> Result<(), ConfigurationError> {
        if !matches!(self.log_format.as_str(), "json" | "pretty") {
            return Err(ConfigurationError::new(
                "log_format",
                "must be `json` or `pretty`",
            ));
        }
        if !matches!(
            self.log_level.to_ascii_lowercase().as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return Err(ConfigurationError::new(
                "log_level",
                "must be one of error, warn, info, debug, trace",
            ));
        }
        if !(0.0..=1.0).contains(&self.chaos_error_rate) {
            return Err(ConfigurationError::new(
                "chaos_error_rate",
                "must be a number between 0 and 1",
            ));
        }
        if self.host.parse::<std::net::IpAddr>().is_err() {
            return Err(ConfigurationError::new(
                "host",
                "must be an IP address such as 0.0.0.0",
            ));
        }
        // Both travel in the `x-kyc-served-by` header and in every report.
        let is_name = |v: &str| {
            !v.is_empty()
                && v.len() <= 253
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        };
        if !is_name(&self.service_version) {
            return Err(ConfigurationError::new(
                "service_version",
                "must be 1-253 letters, digits, '.', '-' or '_' (e.g. v2)",
            ));
        }
        if self.instance.as_deref().is_some_and(|i| !is_name(i)) {
            return Err(ConfigurationError::new(
                "instance",
                "must be 1-253 letters, digits, '.', '-' or '_' (e.g. the pod name)",
            ));
        }
        Ok(())
    }
}

/// Defaults shared by every service; each service adds its own.
pub fn common_defaults(service_version: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("host", "0.0.0.0".into()),
        ("port", 8080_i64.into()),
        ("log_format", "json".into()),
        ("log_level", "info".into()),
        ("drain_ms", 0_i64.into()),
        ("service_version", service_version.into()),
        ("chaos_error_rate", 0.0_f64.into()),
        ("chaos_delay_ms", 0_i64.into()),
    ]
}

/// Where `KYC_*` variables come from: the process, or a given map (tests).
pub enum EnvSource {
    Process,
    Map(HashMap<String, String>),
}

impl EnvSource {
    fn get(&self, key: &str) -> Option<String> {
        match self {
            EnvSource::Process => std::env::var(key).ok(),
            EnvSource::Map(map) => map.get(key).cloned(),
        }
    }
}

/// Loads settings of type `T`: `defaults`, then the `KYC_CONFIG_FILE` file if set, then `KYC_*`
/// variables.
pub fn load<T: DeserializeOwned>(
    defaults: Vec<(&'static str, Value)>,
    env: EnvSource,
) -> Result<T, ConfigurationError> {
    build(defaults, env)?.try_deserialize().map_err(describe)
}

/// Loads and validates the [`CommonSettings`] and a service's own settings `T` from the same sources.
/// They are read separately (not with `#[serde(flatten)]`, which loses the key in error messages) so
/// that every error names its variable.
pub fn load_service<T: DeserializeOwned>(
    defaults: Vec<(&'static str, Value)>,
    env: EnvSource,
) -> Result<(CommonSettings, T), ConfigurationError> {
    let config = build(defaults, env)?;
    let common: CommonSettings = config.clone().try_deserialize().map_err(describe)?;
    common.validate()?;
    let own: T = config.try_deserialize().map_err(describe)?;
    Ok((common, own))
}

fn build(
    defaults: Vec<(&'static str, Value)>,
    env: EnvSource,
) -> Result<Config, ConfigurationError> {
    let mut builder = Config::builder();
    for (key, value) in defaults {
        builder = builder
            .set_default(key, value)
            .map_err(|e| ConfigurationError::new(key, e.to_string()))?;
    }
    if let Some(path) = env.get(CONFIG_FILE_VAR) {
        builder = builder.add_source(File::with_name(&path).required(true));
    }
    let environment = Environment::with_prefix(ENV_PREFIX).try_parsing(true);
    let environment = match env {
        EnvSource::Process => environment,
        EnvSource::Map(map) => environment.source(Some(map.into_iter().collect())),
    };
    builder.add_source(environment).build().map_err(describe)
}

fn describe(err: config::ConfigError) -> ConfigurationError {
    match &err {
        config::ConfigError::Type { key: Some(key), .. } => ConfigurationError {
            key: env_name(key),
            problem: err.to_string(),
        },
        config::ConfigError::NotFound(key) | config::ConfigError::At { key: Some(key), .. } => {
            ConfigurationError {
                key: env_name(key),
                problem: err.to_string(),
            }
        }
        config::ConfigError::FileParse { .. } | config::ConfigError::Foreign(_) => {
            ConfigurationError {
                key: CONFIG_FILE_VAR.to_owned(),
                problem: err.to_string(),
            }
        }
        _ => {
            // Messages such as "missing field `port`" or "... for key `port`": name the variable.
            let text = err.to_string();
            let key = text
                .split('`')
                .nth(1)
                .map(env_name)
                .unwrap_or_else(|| "configuration".to_owned());
            ConfigurationError { key, problem: text }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_common(vars: &[(&str, &str)]) -> Result<CommonSettings, ConfigurationError> {
        let map = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let s: CommonSettings = load(common_defaults("v1"), EnvSource::Map(map))?;
        s.validate()?;
        Ok(s)
    }

    #[test]
    fn defaults_apply() {
        let s = load_common(&[]).expect("defaults are valid");
        assert_eq!(s.port, 8080);
        assert_eq!(s.host, "0.0.0.0");
        assert_eq!(s.log_format, "json");
        assert_eq!(s.drain_ms, 0);
        assert_eq!(s.service_version, "v1");
        assert_eq!(s.chaos_error_rate, 0.0);
        assert!(s.instance.is_none());
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
        assert_eq!(s.chaos_error_rate, 0.25);
        assert_eq!(s.instance.as_deref(), Some("pod-a"));
        assert_eq!(s.log_format, "pretty");
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
        assert_eq!(s.drain_ms, 500);
        let err =
            load_common(&[("KYC_CONFIG_FILE", "/nonexistent/kyc.toml")]).expect_err("missing file");
        assert!(err.to_string().contains("kyc.toml"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
