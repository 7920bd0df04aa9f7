//! Settings: the common ones plus the four reference-list files.

use std::path::PathBuf;

use kyc_common::configuration::{self, CommonSettings, ConfigurationError, EnvSource};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    /// Read on its own by `load_service`.
    #[serde(skip)]
    pub common: CommonSettings,
    /// `KYC_WATCHLIST_FILE`
    #[serde(default)]
    pub watchlist_file: Option<PathBuf>,
    /// `KYC_NOTICES_FILE`
    #[serde(default)]
    pub notices_file: Option<PathBuf>,
    /// `KYC_RESTRICTED_COUNTRIES_FILE`
    #[serde(default)]
    pub restricted_countries_file: Option<PathBuf>,
    /// `KYC_BUREAU_FILE`
    #[serde(default)]
    pub bureau_file: Option<PathBuf>,
}

impl Settings {
    pub fn load() -> Result<Self, ConfigurationError> {
        Self::load_from(EnvSource::Process)
    }

    pub fn load_from(env: EnvSource) -> Result<Self, ConfigurationError> {
        let (common, settings) =
            configuration::load_service::<Settings>(configuration::common_defaults("v2"), env)?;
        Ok(Settings { common, ..settings })
    }
}
