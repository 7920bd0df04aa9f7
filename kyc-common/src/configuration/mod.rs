//! Configuration: built-in defaults, then an optional file named by `KYC_CONFIG_FILE` (TOML, YAML or
//! JSON by extension), then `KYC_*` environment variables (`KYC_PORT` sets `port`).
//!
//! [`Layers`] holds the file and the environment; every setting is read from it once, by its key, into
//! its type ([`Layers::get_or`], [`Layers::optional`]). The key is known where the value is parsed, so
//! a value that does not fit stops the service before it binds with a message naming its variable.

mod common;
mod limits;
mod values;

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use config::{Config, Environment, File};

pub use common::CommonSettings;
pub use limits::ServerLimits;
pub use values::{Label, LogFormat, LogLevel, Millis, Share};

pub const ENV_PREFIX: &str = "KYC";
pub const CONFIG_FILE_VAR: &str = "KYC_CONFIG_FILE";

/// A configuration value that does not fit, named by its environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {key}: {problem}")]
pub struct ConfigurationError {
    /// The environment variable (`KYC_PORT`), or `KYC_CONFIG_FILE` for errors reading the file.
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

/// A service's settings, the common ones among them.
pub trait ServiceSettings: Sized {
    /// Reads every setting of the service from the layers.
    fn read(layers: &Layers) -> Result<Self, ConfigurationError>;

    fn common(&self) -> &CommonSettings;

    /// From the process environment (and `KYC_CONFIG_FILE`).
    fn load() -> Result<Self, ConfigurationError> {
        Self::load_from(EnvSource::Process)
    }

    /// From the given variables (and the `KYC_CONFIG_FILE` they name).
    fn load_from(env: EnvSource) -> Result<Self, ConfigurationError> {
        Self::read(&Layers::read(env)?)
    }
}

/// The configuration file (if any) under the `KYC_*` environment, not yet typed.
pub struct Layers {
    config: Config,
}

impl Layers {
    /// Reads the `KYC_CONFIG_FILE` file, if set, and the `KYC_*` variables. Values stay text (no
    /// guessing of types) until a setting parses them.
    pub fn read(env: EnvSource) -> Result<Self, ConfigurationError> {
        let mut builder = Config::builder();
        if let Some(path) = env.get(CONFIG_FILE_VAR) {
            builder = builder.add_source(File::with_name(&path).required(true));
        }
        let environment = Environment::with_prefix(ENV_PREFIX);
        let environment = match env {
            EnvSource::Process => environment,
            EnvSource::Map(map) => environment.source(Some(map.into_iter().collect())),
        };
        // Only the file can fail here: the environment is a map of strings.
        let config = builder
            .add_source(environment)
            .build()
            .map_err(|e| ConfigurationError::new(CONFIG_FILE_VAR, e.to_string()))?;
        Ok(Layers { config })
    }

    /// The setting `key` parsed as `T`, or `None` when neither the file nor the environment sets it.
    pub fn optional<T>(&self, key: &'static str) -> Result<Option<T>, ConfigurationError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = match self.config.get_string(key) {
            Ok(text) => text,
            Err(config::ConfigError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(ConfigurationError::new(key, e.to_string())),
        };
        parse(key, &text).map(Some)
    }

    /// The setting `key` parsed as `T`, or `default` parsed as `T` when it is not set.
    pub fn get_or<T>(&self, key: &'static str, default: &str) -> Result<T, ConfigurationError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.optional(key)? {
            Some(value) => Ok(value),
            None => parse(key, default),
        }
    }
}

fn parse<T>(key: &'static str, text: &str) -> Result<T, ConfigurationError>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse()
        .map_err(|e| ConfigurationError::new(key, format!("{text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(vars: &[(&str, &str)]) -> Layers {
        let map = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Layers::read(EnvSource::Map(map)).expect("no file")
    }

    #[test]
    fn a_setting_is_read_by_its_key_and_named_by_its_variable() {
        let l = layers(&[("KYC_PORT", "9000"), ("KYC_DRAIN_MS", "soon")]);
        assert_eq!(l.get_or::<u16>("port", "8080"), Ok(9000));
        assert_eq!(l.get_or::<u64>("chaos_delay_ms", "0"), Ok(0));
        assert_eq!(l.optional::<String>("instance"), Ok(None));
        let err = l.get_or::<u64>("drain_ms", "0").expect_err("not a number");
        assert_eq!(err.key, "KYC_DRAIN_MS");
        assert!(err.to_string().contains("\"soon\""), "{err}");
    }

    #[test]
    fn environment_variables_are_not_guessed_into_numbers() {
        let l = layers(&[("KYC_INSTANCE", "007")]);
        assert_eq!(l.optional::<String>("instance"), Ok(Some("007".into())));
    }
}
