//! The whole pipeline from files to a configuration Envoy may receive:
//! `istio::load` → `translate` (with `analyze`) → refuse any error finding.

use std::path::Path;

use crate::analyze::{Finding, Severity};
use crate::istio;
use crate::topology::Ports;
use crate::translate::{self, ProxyConfig, ProxyId, Translation};

/// A translation without errors: what `up`, `render` and `use` act on.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub ingress: ProxyConfig,
    /// Warnings and infos (errors were refused).
    pub notes: Vec<Finding>,
}

/// Load and translate; Err carries every problem, one line each.
pub fn build(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
) -> Result<Accepted, Vec<String>> {
    let objects = istio::load(networking, scenario).map_err(|errs| {
        errs.iter()
            .map(|e| format!("Error {e}"))
            .collect::<Vec<_>>()
    })?;
    let Translation {
        mut proxies,
        findings,
    } = translate::translate(&objects, ports);
    let errors: Vec<String> = findings.errors().map(|f| f.to_string()).collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let ingress = proxies.remove(&ProxyId::IngressGateway).ok_or_else(|| {
        vec!["Error translation produced no ingress gateway configuration".to_string()]
    })?;
    let notes = findings
        .0
        .into_iter()
        .filter(|f| f.severity != Severity::Error)
        .collect();
    Ok(Accepted { ingress, notes })
}
