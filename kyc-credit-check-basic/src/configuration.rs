//! Settings: the common ones plus `KYC_WATCHLIST_FILE`.

use std::path::PathBuf;

use kyc_common::configuration::{CommonSettings, ConfigurationError, EnvSource, Layers};

#[derive(Clone, Debug)]
pub struct Settings {
    pub common: CommonSettings,
    /// `KYC_WATCHLIST_FILE`: a JSON watchlist replacing the embedded one.
    pub watchlist_file: Option<PathBuf>,
}

impl Settings {
    /// From the process environment (and `KYC_CONFIG_FILE`).
    pub fn load() -> Result<Self, ConfigurationError> {
        Self::load_from(EnvSource::Process)
    }

    pub fn load_from(env: EnvSource) -> Result<Self, ConfigurationError> {
        let layers = Layers::read(env)?;
        Ok(Settings {
            common: CommonSettings::read(&layers, "v1")?,
            watchlist_file: layers.optional("watchlist_file")?,
        })
    }
}
