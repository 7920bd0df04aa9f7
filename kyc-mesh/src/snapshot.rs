//! One configuration generation, as istiod's `PushContext` is one: networking/, the active
//! scenario and the runtime weight overrides, read from disk and checked ONCE into an
//! immutable [`Snapshot`] that every consumer reads — translation, live scaling (replicas),
//! sidecar injection, the Prometheus configuration, `set-weights` and the canary (the weighted
//! routes), the dashboard (the scenario). A change makes the next snapshot; one that does not
//! translate is [`Rejected`] and the last good one stays in force.
//!
//! [`Sources::read`] is the only place kyc-mesh reads networking/ (and counts how often it
//! did: a start reads once, a reload once, `set-weights` never, `use` once).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::analyze::{Finding, Severity};
use crate::envoy::listener::HttpListener;
use crate::injection;
use crate::istio::{self, LoadError, Loaded, RouteRef};
use crate::registry::Registry;
use crate::topology::{Ports, SidecarPlan, SidecarPorts, Topology};
use crate::translate::{self, ProxyConfig, ProxyId, Translation};
use crate::weights::{self, Overrides, WeightedRoute};

/// Where a generation comes from: the networking directory (a scenario file is named per read).
#[derive(Debug)]
pub(crate) struct Sources {
    networking: PathBuf,
    reads: AtomicU64,
}

/// What one read of the sources gave: networking/'s objects with the scenario's on top.
#[derive(Debug)]
pub(crate) struct Files {
    /// The directory read.
    pub(crate) networking: PathBuf,
    pub(crate) scenario: Option<PathBuf>,
    pub(crate) objects: Vec<Loaded>,
    /// The names of `<networking>/scenarios/*.yaml` (what the dashboard offers).
    pub(crate) scenarios: Vec<String>,
}

impl Sources {
    pub(crate) fn new(networking: impl Into<PathBuf>) -> Self {
        Sources {
            networking: networking.into(),
            reads: AtomicU64::new(0),
        }
    }

    /// Read networking/*.yaml and the scenario file from disk, once.
    pub(crate) fn read(&self, scenario: Option<&Path>) -> Result<Files, Rejected> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let objects = istio::load(&self.networking, scenario).map_err(Rejected::Load)?;
        Ok(Files {
            networking: self.networking.clone(),
            scenario: scenario.map(Path::to_path_buf),
            objects,
            scenarios: scenario_names(&self.networking),
        })
    }

    /// How many times [`Sources::read`] read the files.
    #[cfg(test)]
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Read and make the first generation (no overrides) for the workloads on `ports`: what
    /// `check`, `render` and `use` act on.
    pub(crate) fn snapshot(
        &self,
        scenario: Option<&Path>,
        ports: Ports,
    ) -> Result<Snapshot, Rejected> {
        let files = self.read(scenario)?;
        Ok(Snapshot::new(
            1,
            Arc::new(files),
            Overrides::default(),
            ports,
        ))
    }
}

/// The scenarios of `<networking>/scenarios`, by name (file stem), sorted.
fn scenario_names(networking: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(networking.join("scenarios")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name
                .strip_suffix(".yaml")
                .or_else(|| name.strip_suffix(".yml"))?;
            Some(stem.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// One generation of the mesh's configuration: immutable; the next change makes a new one.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// 1 for the first; each accepted change adds one.
    pub(crate) generation: u64,
    pub(crate) ports: Ports,
    /// The files as read (before the overrides).
    files: Arc<Files>,
    /// The objects with the overrides applied: what translation reads.
    pub(crate) objects: Vec<Loaded>,
    pub(crate) overrides: Overrides,
    /// Overrides that no longer fit the objects (skipped), one line each.
    pub(crate) skipped: Vec<String>,
    /// The workloads networking/ describes: labels, service accounts, `spec.replicas`.
    pub(crate) topology: Topology,
    /// The workloads networking/ injects a sidecar into.
    pub(crate) injected: BTreeSet<&'static str>,
    /// The workloads in the ambient data plane (node proxies and waypoints, no sidecar).
    pub(crate) ambient: BTreeSet<&'static str>,
    /// The routes with several destinations and their weights in force.
    pub(crate) routes: Vec<WeightedRoute>,
}

impl Snapshot {
    /// The generation of `files` with `overrides` on top.
    pub(crate) fn new(
        generation: u64,
        files: Arc<Files>,
        overrides: Overrides,
        ports: Ports,
    ) -> Self {
        let mut objects = files.objects.clone();
        let skipped = weights::apply(&mut objects, &overrides);
        let routes = weights::weighted_routes(&objects, &overrides);
        let topology = Topology::local(&ports, &objects);
        let injected = injection::injected_workloads(&objects, &topology);
        let ambient = crate::ambient::ambient_workloads(&objects, &topology, &injected);
        Snapshot {
            generation,
            ports,
            files,
            objects,
            overrides,
            skipped,
            topology,
            injected,
            ambient,
            routes,
        }
    }

    /// The next generation: the same files with other overrides (nothing is read).
    pub(crate) fn with_overrides(&self, generation: u64, overrides: Overrides) -> Self {
        Snapshot::new(generation, self.files.clone(), overrides, self.ports)
    }

    /// The scenario whose objects are in this generation (`None`: networking/ only).
    pub(crate) fn scenario(&self) -> Option<&Path> {
        self.files.scenario.as_deref()
    }

    /// The scenarios networking/ offers, by name.
    pub(crate) fn scenarios(&self) -> &[String] {
        &self.files.scenarios
    }

    /// How the dashboard names the scenario in force: its name when it is a file of
    /// `<networking>/scenarios`, else its path.
    pub(crate) fn scenario_label(&self) -> Option<String> {
        let path = self.scenario()?;
        let dir = std::path::absolute(self.files.networking.join("scenarios")).ok();
        match (path.parent(), path.file_stem()) {
            (Some(parent), Some(stem)) if Some(parent) == dir.as_deref() => {
                Some(stem.to_string_lossy().into_owned())
            }
            _ => Some(path.display().to_string()),
        }
    }

    /// The objects by kind, and host resolution.
    pub(crate) fn registry(&self) -> Registry<'_> {
        Registry::new(&self.objects)
    }

    /// The weighted route `r` names, with its weights in force.
    pub(crate) fn weighted_route(&self, r: &RouteRef) -> Option<&WeightedRoute> {
        self.routes.iter().find(|w| &w.route == r)
    }

    /// What the entry workload (the aggregator: the KYC API) asks of its callers' tokens, when a
    /// RequestAuthentication applies to it: the dashboard shows it, and the mesh's own
    /// traffic (the load generator) carries a demo token when [`EndUserAuth::demo`] says so.
    pub(crate) fn end_user_auth(&self) -> Option<EndUserAuth> {
        let entry = self.topology.entry();
        let registry = self.registry();
        let rules = registry.jwt_rules_for(entry);
        if rules.is_empty() {
            return None;
        }
        let demo = rules.iter().any(|r| {
            r.issuer == crate::token::DEMO_ISSUER
                && (r.audiences.is_empty()
                    || r.audiences.iter().any(|a| a == crate::token::DEMO_AUDIENCE))
                && r.jwks.as_deref().is_some_and(crate::token::has_demo_key)
        });
        Some(EndUserAuth {
            workload: entry.name,
            issuers: rules.iter().map(|r| r.issuer.clone()).collect(),
            audiences: rules.iter().flat_map(|r| r.audiences.clone()).collect(),
            demo,
        })
    }

    /// Each workload's `spec.replicas` (1 without a Deployment).
    pub(crate) fn replicas(&self) -> BTreeMap<&'static str, u32> {
        self.topology
            .workloads
            .iter()
            .map(|w| (w.name, w.replicas))
            .collect()
    }

    /// A plan with every workload this generation injects (no ports, no certificates): what
    /// `check` and `use` translate against, so what only sidecars use (PeerAuthentication,
    /// AuthorizationPolicy, mesh routes) is validated too.
    pub(crate) fn validation_plan(&self) -> SidecarPlan {
        let none = SidecarPorts {
            outbound: 0,
            admin: 0,
        };
        SidecarPlan {
            sidecars: self.injected.iter().map(|w| (*w, none)).collect(),
            certs: Default::default(),
            edge_only: false,
        }
    }

    /// Every finding `check` reports (translated with every injected workload's sidecar).
    pub(crate) fn findings(&self) -> Vec<Finding> {
        translate::translate_mesh(&self.objects, &self.ports, &self.validation_plan())
            .findings
            .0
    }

    /// Every error a running mesh with its sidecars would refuse (`use` checks a scenario
    /// with it).
    pub(crate) fn validate(&self) -> Result<(), Rejected> {
        let errors: Vec<Finding> = self
            .findings()
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        match errors.is_empty() {
            true => Ok(()),
            false => Err(Rejected::Findings(errors)),
        }
    }

    /// Translate for the gateway and the sidecars of `plan` (none: the edge-only mesh);
    /// refused when there is any error.
    pub(crate) fn translate(&self, plan: &SidecarPlan) -> Result<Accepted, Rejected> {
        let Translation {
            mut proxies,
            waypoints,
            node_policies,
            findings,
        } = translate::translate_mesh(&self.objects, &self.ports, plan);
        let (errors, notes): (Vec<Finding>, Vec<Finding>) = findings
            .0
            .into_iter()
            .partition(|f| f.severity == Severity::Error);
        if !errors.is_empty() {
            return Err(Rejected::Findings(errors));
        }
        let ingress = proxies
            .remove(&ProxyId::IngressGateway)
            .ok_or(Rejected::NoGateway)?;
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
            waypoints,
            node_policies,
            notes,
        })
    }
}

/// The gateway listener networking/ translates to (edge only, no scenario): the names of a
/// running gateway's stats derive from it (the end-to-end tests read its counters by them).
pub fn gateway_listener(networking: &Path, ports: Ports) -> Result<HttpListener, Rejected> {
    let accepted = Sources::new(networking)
        .snapshot(None, ports)?
        .translate(&SidecarPlan::default())?;
    accepted
        .ingress
        .main_listener()
        .map(|l| l.listener.clone())
        .ok_or(Rejected::NoGateway)
}

/// End-user authentication in force at the KYC API (see [`Snapshot::end_user_auth`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndUserAuth {
    /// The workload whose sidecar verifies tokens.
    pub(crate) workload: &'static str,
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    /// The demo issuer and audience with the default demo key: a `kyc-mesh token` (and the
    /// mesh's own demo token) is accepted.
    pub(crate) demo: bool,
}

/// A translation without errors: what `up`, `render` and `use` act on.
#[derive(Debug, Clone)]
pub(crate) struct Accepted {
    pub(crate) ingress: ProxyConfig,
    /// One per injected workload (none for the edge-only mesh).
    pub(crate) sidecars: BTreeMap<&'static str, ProxyConfig>,
    /// The waypoints (ambient mode), run by `up` beside the node proxies.
    pub(crate) waypoints: Vec<translate::Waypoint>,
    /// The node proxy's L4 policies of each ambient workload.
    pub(crate) node_policies: translate::NodePolicies,
    /// Warnings and infos (errors were refused).
    pub(crate) notes: Vec<Finding>,
}

impl Accepted {
    /// Every proxy's configuration, the gateway first.
    pub(crate) fn proxies(&self) -> impl Iterator<Item = (ProxyId, &ProxyConfig)> {
        std::iter::once((ProxyId::IngressGateway, &self.ingress)).chain(
            self.sidecars
                .iter()
                .map(|(name, p)| (ProxyId::Sidecar(name), p)),
        )
    }
}

/// Why a generation cannot be used: files that do not load, or errors of translation.
#[derive(Debug, Clone)]
pub enum Rejected {
    Load(Vec<LoadError>),
    Findings(Vec<Finding>),
    NoGateway,
}

impl Rejected {
    /// One line per problem, as `render`, `up` and `use` print them.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Rejected::Load(errors) => errors.iter().map(|e| format!("Error {e}")).collect(),
            Rejected::Findings(findings) => findings.iter().map(Finding::to_string).collect(),
            Rejected::NoGateway => {
                vec!["Error translation produced no ingress gateway configuration".into()]
            }
        }
    }
}

/// One problem a line.
impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for Rejected {}

#[cfg(test)]
mod tests {
    use super::*;

    fn networking() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking")
    }

    #[test]
    fn one_read_makes_a_generation_that_everything_reads() {
        let sources = Sources::new(networking());
        let s = sources
            .snapshot(None, Ports::default())
            .expect("networking/ loads");
        assert_eq!(sources.reads(), 1);
        assert_eq!(s.generation, 1);
        assert_eq!(s.injected.len(), 3, "{:?}", s.injected);
        assert_eq!(
            s.replicas().values().copied().collect::<Vec<_>>(),
            [1, 1, 1]
        );
        let report = RouteRef::new("kyc-credit-check", "credit-check-report");
        let weights: Vec<u32> = s
            .weighted_route(&report)
            .expect("weighted")
            .destinations
            .iter()
            .map(|d| d.weight)
            .collect();
        assert_eq!(weights, [50, 50]);
        assert!(s.scenarios().iter().any(|n| n == "canary-90-10"));
        assert!(s.translate(&SidecarPlan::default()).is_ok());
        s.validate().expect("valid");
        // The next generation with an override reads nothing.
        let mut o = Overrides::default();
        let w = weights::Weights::split("kyc-credit-check-basic", "kyc-credit-check-advanced", 100)
            .expect("w");
        o.set(&report, Some(&w));
        let next = s.with_overrides(2, o);
        assert_eq!(sources.reads(), 1);
        let r = next.weighted_route(&report).expect("weighted");
        assert!(r.overridden);
        assert_eq!(r.destinations[1].weight, 100);
        assert_eq!(s.weighted_route(&report).map(|r| r.overridden), Some(false));
    }

    #[test]
    fn a_generation_that_does_not_load_or_translate_is_rejected_line_by_line() {
        let sources = Sources::new("/nonexistent");
        let e = sources
            .snapshot(None, Ports::default())
            .expect_err("no directory");
        assert!(matches!(e, Rejected::Load(_)));
        assert!(
            e.to_string().starts_with("Error /nonexistent: directory:"),
            "{e}"
        );
        let dir = tempfile::tempdir().expect("tmp");
        for f in std::fs::read_dir(networking()).expect("dir").flatten() {
            if f.path().is_file() {
                let text = std::fs::read_to_string(f.path()).expect("read");
                let text = text.replacen("weight: 50", "weight: 40", 1);
                std::fs::write(dir.path().join(f.file_name()), text).expect("write");
            }
        }
        let s = Sources::new(dir.path())
            .snapshot(None, Ports::default())
            .expect("loads");
        let e = s.translate(&SidecarPlan::default()).expect_err("90");
        assert!(e.lines()[0].contains("weights add up to 90"), "{e}");
        assert!(s.validate().is_err());
    }
}
