//! The active scenario, shared by `up` (which watches it) and `use` (which writes it):
//! one file in the state directory holding the scenario's path (empty = none).

use std::path::{Path, PathBuf};

/// The name of the file `kyc-mesh use` writes and `up` watches, in the state directory.
pub(crate) const STATE_FILE: &str = "scenario";

/// The file `kyc-mesh use` writes and `up` watches.
pub(crate) fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_FILE)
}

pub(crate) fn read_state(state_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(state_file(state_dir)).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| PathBuf::from(t))
}

/// Replace the state file atomically, so `up` never reads half a path.
pub(crate) fn write_state(state_dir: &Path, scenario: Option<&Path>) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    crate::files::write_atomic(&state_file(state_dir), line(scenario))
}

/// The content of both files: the scenario's path and a newline (only the newline for none).
fn line(scenario: Option<&Path>) -> String {
    let text = scenario
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!("{text}\n")
}

/// The scenario `up` has applied to every proxy (written by `up`, read by `use`): a
/// switch that changes only sidecars (a policy) moves none of the gateway's counters.
fn applied_file(state_dir: &Path) -> PathBuf {
    state_dir.join("applied-scenario")
}

pub(crate) fn write_applied(state_dir: &Path, scenario: Option<&Path>) -> std::io::Result<()> {
    crate::files::write_atomic(&applied_file(state_dir), line(scenario))
}

/// `Some(scenario)` once `up` has applied it (`Some(None)`: networking/ alone).
pub(crate) fn read_applied(state_dir: &Path) -> Option<Option<PathBuf>> {
    let text = std::fs::read_to_string(applied_file(state_dir)).ok()?;
    let t = text.trim();
    Some((!t.is_empty()).then(|| PathBuf::from(t)))
}

/// A scenario argument that names no scenario.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScenarioError {
    #[error("scenario {scenario:?} not found (give a file or a name from {}/scenarios)", .networking.display())]
    NotFound {
        scenario: String,
        networking: PathBuf,
    },
    #[error("{}: {error}", .path.display())]
    Path {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// A scenario argument: a file, a name from `<networking>/scenarios` (e.g. `canary-90-10`),
/// or `none`. Returns the absolute path (None for `none`).
pub(crate) fn resolve(networking: &Path, scenario: &str) -> Result<Option<PathBuf>, ScenarioError> {
    if scenario == "none" {
        return Ok(None);
    }
    let p = Path::new(scenario);
    let found = if p.exists() {
        p.to_path_buf()
    } else {
        let candidates =
            ["yaml", "yml"].map(|e| networking.join("scenarios").join(format!("{scenario}.{e}")));
        candidates
            .into_iter()
            .find(|p| p.exists())
            .ok_or_else(|| ScenarioError::NotFound {
                scenario: scenario.to_string(),
                networking: networking.to_path_buf(),
            })?
    };
    std::path::absolute(&found)
        .map(Some)
        .map_err(|error| ScenarioError::Path { path: found, error })
}

/// How the banner and `use` name the scenario.
pub(crate) fn shown(scenario: Option<&Path>) -> String {
    scenario
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "none (networking/ only)".into())
}
