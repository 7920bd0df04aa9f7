//! `envoy.config.core.v3.ConfigSource`: where an Envoy reads an xDS resource or a secret from
//! (here always a watched file).

use serde::Serialize;

/// An xDS subscription to a watched file: Envoy reloads it when the file is renamed
/// into its directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ConfigSource {
    pub(crate) resource_api_version: &'static str,
    pub(crate) path_config_source: PathConfigSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PathConfigSource {
    pub(crate) path: String,
    pub(crate) watched_directory: WatchedDirectory,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WatchedDirectory {
    pub(crate) path: String,
}

impl ConfigSource {
    pub(crate) fn watched_file(dir: &std::path::Path, file: &str) -> Self {
        ConfigSource {
            resource_api_version: "V3",
            path_config_source: PathConfigSource {
                path: dir.join(file).display().to_string(),
                watched_directory: WatchedDirectory {
                    path: dir.display().to_string(),
                },
            },
        }
    }
}
