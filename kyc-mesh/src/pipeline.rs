//! The whole pipeline from files to a configuration Envoy may receive:
//! `istio::load` → `translate` (with `analyze`) → refuse any error finding.

use std::path::Path;

use crate::analyze::{Finding, Severity};
use crate::control::state::WeightedRoute;
use crate::istio::{self, Loaded};
use crate::topology::Ports;
use crate::translate::{self, ProxyConfig, ProxyId, Translation};
use crate::weights::{self, Overrides};

/// A translation without errors: what `up`, `render` and `use` act on.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub ingress: ProxyConfig,
    /// Warnings and infos (errors were refused).
    pub notes: Vec<Finding>,
    /// The routes with several destinations and their weights in force.
    pub routes: Vec<WeightedRoute>,
    /// Weight overrides that no longer fit the objects (skipped), one line each.
    pub skipped: Vec<String>,
}

/// Load networking/ and the scenario; Err carries every problem, one line each.
pub fn load(networking: &Path, scenario: Option<&Path>) -> Result<Vec<Loaded>, Vec<String>> {
    istio::load(networking, scenario).map_err(|errs| {
        errs.iter()
            .map(|e| format!("Error {e}"))
            .collect::<Vec<_>>()
    })
}

/// Load and translate; Err carries every problem, one line each.
pub fn build(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
) -> Result<Accepted, Vec<String>> {
    build_with(networking, scenario, ports, &Overrides::default())
}

/// [`build`] with runtime weight overrides applied on top of the files (see [`weights`]).
pub fn build_with(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
    overrides: &Overrides,
) -> Result<Accepted, Vec<String>> {
    let mut objects = load(networking, scenario)?;
    let skipped = weights::apply(&mut objects, overrides);
    let routes = weights::weighted_routes(&objects, overrides);
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
    Ok(Accepted {
        ingress,
        notes,
        routes,
        skipped,
    })
}
