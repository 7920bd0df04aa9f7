//! Settings: the common ones plus the four reference-list files.

use std::path::PathBuf;

use kyc_common::configuration::{CommonSettings, ConfigurationError, Layers, ServiceSettings};

#[derive(Clone, Debug)]
pub struct Settings {
    pub common: CommonSettings,
    /// `KYC_WATCHLIST_FILE`
    pub watchlist_file: Option<PathBuf>,
    /// `KYC_NOTICES_FILE`
    pub notices_file: Option<PathBuf>,
    /// `KYC_RESTRICTED_COUNTRIES_FILE`
    pub restricted_countries_file: Option<PathBuf>,
    /// `KYC_BUREAU_FILE`
    pub bureau_file: Option<PathBuf>,
}

impl ServiceSettings for Settings {
    fn read(layers: &Layers) -> Result<Self, ConfigurationError> {
        Ok(Settings {
            common: CommonSettings::read(layers, "v2")?,
            watchlist_file: layers.optional("watchlist_file")?,
            notices_file: layers.optional("notices_file")?,
            restricted_countries_file: layers.optional("restricted_countries_file")?,
            bureau_file: layers.optional("bureau_file")?,
        })
    }

    fn common(&self) -> &CommonSettings {
        &self.common
    }
}
