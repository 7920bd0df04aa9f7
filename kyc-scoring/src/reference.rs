//! The loader every reference list uses (the watchlist, and the advanced scorer's lists): embedded JSON
//! by default, a JSON file when a path is configured.

use std::path::Path;

use serde::de::DeserializeOwned;

/// Loads a reference list: the file at `path` when given, else the embedded JSON. The error names the
/// list and the file so that a bad path stops the service with a clear message.
pub fn load_reference<T: DeserializeOwned>(
    what: &str,
    path: Option<&Path>,
    embedded: &str,
) -> Result<T, String> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{what}: {} is not valid: {e}", path.display()))
        }
        None => serde_json::from_str(embedded)
            .map_err(|e| format!("{what}: embedded list is not valid: {e}")),
    }
}
