//! The watchlist both scorers check, and the loader every reference list uses: embedded by default,
//! replaced by a JSON file when a path is configured.

use std::collections::HashSet;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::names;

/// The embedded, fictional default watchlist.
pub const EMBEDDED_WATCHLIST: &str = include_str!("../../data/watchlist.json");

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WatchlistFile {
    names: Vec<String>,
    passport_numbers: Vec<String>,
}

/// Names (normalised) and passport numbers (upper case) on the watchlist.
#[derive(Clone, Default)]
pub struct Watchlist {
    names: HashSet<String>,
    passport_numbers: HashSet<String>,
}

impl Watchlist {
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let file: WatchlistFile = load_reference("watchlist", path, EMBEDDED_WATCHLIST)?;
        Ok(Self::new(file.names, file.passport_numbers))
    }

    pub fn new(
        names: impl IntoIterator<Item = String>,
        passports: impl IntoIterator<Item = String>,
    ) -> Self {
        Watchlist {
            names: names.into_iter().map(|n| names::normalise(&n)).collect(),
            passport_numbers: passports
                .into_iter()
                .map(|p| p.trim().to_ascii_uppercase())
                .collect(),
        }
    }

    pub fn has_name(&self, first: &str, last: &str) -> bool {
        self.names.contains(&names::full_name(first, last))
    }

    pub fn has_passport(&self, number: &str) -> bool {
        self.passport_numbers.contains(&number.to_ascii_uppercase())
    }

    pub fn len(&self) -> usize {
        self.names.len() + self.passport_numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_list_loads() {
        let list = Watchlist::load(None).expect("embedded list parses");
        assert!(list.has_name("viktor", "ZANE"));
        assert!(list.has_name("Ignatius", "Moor Blackwell"));
        assert!(list.has_passport("zz0000001"));
        assert!(!list.has_name("Alice", "Martin"));
    }

    #[test]
    fn a_file_replaces_the_embedded_list() {
        let dir = std::env::temp_dir().join(format!("kyc-watchlist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("list.json");
        std::fs::write(&path, r#"{"names":["Alice Martin"],"passportNumbers":[]}"#).expect("write");
        let list = Watchlist::load(Some(&path)).expect("file parses");
        assert!(list.has_name("ALICE", "martin"));
        assert!(!list.has_name("Viktor", "Zane"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        let err = Watchlist::load(Some(Path::new("/nonexistent/list.json")))
            .err()
            .expect("error");
        assert!(
            err.contains("watchlist") && err.contains("/nonexistent/list.json"),
            "{err}"
        );
    }
}
