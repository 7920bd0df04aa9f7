//! The whole pipeline from files to a configuration Envoy may receive:
//! `istio::load` → `translate` (with `analyze`) → refuse any error finding.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::analyze::{Finding, Severity};
use crate::control::state::WeightedRoute;
use crate::injection;
use crate::istio::{self, Loaded};
use crate::topology::{Ports, SidecarPlan, SidecarPorts, Topology};
use crate::translate::{self, ProxyConfig, ProxyId, Translation};
use crate::weights::{self, Overrides};

/// A translation without errors: what `up`, `render` and `use` act on.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub ingress: ProxyConfig,
    /// One per injected workload (none for the edge-only mesh).
    pub sidecars: BTreeMap<&'static str, ProxyConfig>,
    /// Warnings and infos (errors were refused).
    pub notes: Vec<Finding>,
    /// The routes with several destinations and their weights in force.
    pub routes: Vec<WeightedRoute>,
    /// Weight overrides that no longer fit the objects (skipped), one line each.
    pub skipped: Vec<String>,
}

impl Accepted {
    /// Every proxy's configuration, the gateway first.
    pub fn proxies(&self) -> impl Iterator<Item = (ProxyId, &ProxyConfig)> {
        std::iter::once((ProxyId::IngressGateway, &self.ingress)).chain(
            self.sidecars
                .iter()
                .map(|(name, p)| (ProxyId::Sidecar(name), p)),
        )
    }
}

/// Load networking/ and the scenario; Err carries every problem, one line each.
pub fn load(networking: &Path, scenario: Option<&Path>) -> Result<Vec<Loaded>, Vec<String>> {
    istio::load(networking, scenario).map_err(|errs| {
        errs.iter()
            .map(|e| format!("Error {e}"))
            .collect::<Vec<_>>()
    })
}

/// The workloads networking/ (with the scenario) injects a sidecar into.
pub fn injected(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
) -> Result<BTreeSet<&'static str>, Vec<String>> {
    let objects = load(networking, scenario)?;
    let topology = Topology::local(ports, &objects);
    Ok(injection::injected_workloads(&objects, &topology))
}

/// Each workload's `spec.replicas` in networking/ (with the scenario): how many instances
/// `up` runs (1 for a workload without a Deployment).
pub fn replicas(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
) -> Result<BTreeMap<&'static str, u32>, Vec<String>> {
    let objects = load(networking, scenario)?;
    let topology = Topology::local(ports, &objects);
    Ok(topology
        .workloads
        .iter()
        .map(|w| (w.name, w.replicas))
        .collect())
}

/// A plan with every workload networking/ injects (no ports, no certificates): what
/// `check` and `use` translate against, so what only sidecars use (PeerAuthentication,
/// AuthorizationPolicy, mesh routes) is validated too.
pub fn validation_plan(objects: &[Loaded], ports: &Ports) -> SidecarPlan {
    let topology = Topology::local(ports, objects);
    let sidecars = injection::injected_workloads(objects, &topology)
        .into_iter()
        .map(|w| {
            (
                w,
                SidecarPorts {
                    outbound: 0,
                    admin: 0,
                },
            )
        })
        .collect();
    SidecarPlan {
        sidecars,
        certs: Default::default(),
    }
}

/// Every error a running mesh with its sidecars would refuse (`use` checks a scenario with it).
pub fn validate(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
) -> Result<(), Vec<String>> {
    let objects = load(networking, scenario)?;
    let plan = validation_plan(&objects, ports);
    let t = translate::translate_mesh(&objects, ports, &plan);
    let errors: Vec<String> = t.findings.errors().map(|f| f.to_string()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Load and translate for the edge-only mesh; Err carries every problem, one line each.
pub fn build(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
) -> Result<Accepted, Vec<String>> {
    build_mesh(
        networking,
        scenario,
        ports,
        &SidecarPlan::default(),
        &Overrides::default(),
    )
}

/// Load and translate for the gateway and the given sidecars, with runtime weight
/// overrides (see [`weights`]) applied on top of the files.
pub fn build_mesh(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
    plan: &SidecarPlan,
    overrides: &Overrides,
) -> Result<Accepted, Vec<String>> {
    let mut objects = load(networking, scenario)?;
    let skipped = weights::apply(&mut objects, overrides);
    let routes = weights::weighted_routes(&objects, overrides);
    let Translation {
        mut proxies,
        findings,
    } = translate::translate_mesh(&objects, ports, plan);
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
    let sidecars = proxies
        .into_iter()
        .filter_map(|(id, p)| match id {
            ProxyId::Sidecar(name) => Some((name, p)),
            ProxyId::IngressGateway => None,
        })
        .collect();
    Ok(Accepted {
        ingress,
        sidecars,
        notes,
        routes,
        skipped,
    })
}
