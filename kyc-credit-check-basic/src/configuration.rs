//! Settings: the common ones plus `KYC_WATCHLIST_FILE`.

use std::path::PathBuf;

use kyc_common::configuration::{self, CommonSettings, ConfigurationError, EnvSource};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    /// Read on its own by `load_service`.
    #[serde(skip)]
    pub common: CommonSettings,
    /// `KYC_WATCHLIST_FILE`: a JSON watchlist replacing the embedded one.
    #[serde(default)]
    pub watchlist_file: Option<PathBuf>,
}

impl Settings {
    /// From the process environment (and `KYC_CONFIG_FILE`).
    pub fn load() -> Result<Self, ConfigurationError> {
        Self::load_from(EnvSource::Process)
    }

    pub fn load_from(env: EnvSource) -> Result<Self, ConfigurationError> {
        let (common, settings) =
            configuration::load_service::<Settings>(configuration::common_defaults("v1"), env)?;
        Ok(Settings { common, ..settings })
    }
}
