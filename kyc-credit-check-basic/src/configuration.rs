//! Settings: the common ones plus `KYC_WATCHLIST_FILE`.

use std::path::PathBuf;

use kyc_common::configuration::{CommonSettings, ConfigurationError, Layers, ServiceSettings};

#[derive(Clone, Debug)]
pub struct Settings {
    pub common: CommonSettings,
    /// `KYC_WATCHLIST_FILE`: a JSON watchlist replacing the embedded one.
    pub watchlist_file: Option<PathBuf>,
}

impl ServiceSettings for Settings {
    fn read(layers: &Layers) -> Result<Self, ConfigurationError> {
        Ok(Settings {
            common: CommonSettings::read(layers, "v1")?,
            watchlist_file: layers.optional("watchlist_file")?,
        })
    }

    fn common(&self) -> &CommonSettings {
        &self.common
    }
}
