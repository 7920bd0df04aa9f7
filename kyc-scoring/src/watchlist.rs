//! The watchlist both scorers check: embedded by default, replaced by a JSON file when a path is
//! configured.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::names;
use crate::reference::load_reference;

/// The embedded, fictional default watchlist.
pub const EMBEDDED_WATCHLIST: &str = include_str!("../data/watchlist.json");

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
