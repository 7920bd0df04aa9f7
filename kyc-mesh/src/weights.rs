//! Weights: the split of one weighted http route between its destinations, and the runtime
//! overrides that set it without an edit of networking/.
//!
//! [`Weights`] is parsed once, at the edge that receives it (the control socket, the
//! dashboard, the canary's step): whole percentages, one per destination host, adding up to
//! 100 ([`sum_to_100`], the one place that rule is written; translation checks the YAML's
//! weights with it too). [`check`] then holds it against the registry: the VirtualService,
//! its route and every destination exist.
//!
//! Overrides live in the state directory (`weights.json`, written atomically), beside the
//! scenario that `use` switches: every configuration generation of `up` applies them on top of
//! networking/ and the scenario ([`apply`]), so they survive `kyc-mesh use` and edits of other
//! objects, and the user's files are never rewritten. `up` clears them when it starts (a new
//! mesh starts from the files). `check`, `render` and `split` never read them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::field::FieldError;
use crate::istio::{Loaded, Object, RouteRef};
use crate::registry::{Registry, RouteMissing};

pub(crate) const FILE: &str = "weights.json";
const FORMAT: u32 = 1;

/// What the weights of a VirtualService's weighted route must add up to.
pub(crate) const TOTAL: u32 = 100;

/// The sum of `weights` (saturating: numbers from YAML must not overflow it).
pub(crate) fn total(weights: impl IntoIterator<Item = u32>) -> u32 {
    weights.into_iter().fold(0, u32::saturating_add)
}

/// THE rule of a weighted route: its weights add up to 100. Err carries what they add up to.
pub(crate) fn sum_to_100(weights: impl IntoIterator<Item = u32>) -> Result<(), u32> {
    match total(weights) {
        TOTAL => Ok(()),
        other => Err(other),
    }
}

/// Percent of one route's traffic by destination host: whole numbers from 0 to 100, adding
/// up to 100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Weights(BTreeMap<String, u32>);

impl Weights {
    /// Checked: each weight at most 100, together 100; Err names the field.
    pub(crate) fn new(by_host: BTreeMap<String, u32>) -> Result<Self, FieldError> {
        if let Some((host, w)) = by_host.iter().find(|(_, w)| **w > TOTAL) {
            return Err(not_a_percentage(host, w));
        }
        sum_to_100(by_host.values().copied()).map_err(|total| {
            FieldError::new("weights", format!("they add up to {total}, not {TOTAL}"))
        })?;
        Ok(Weights(by_host))
    }

    /// From JSON numbers (a `set-weights` request, the dashboard's body): each must be a
    /// whole number from 0 to 100.
    pub(crate) fn from_json<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a serde_json::Number)>,
    ) -> Result<Self, FieldError> {
        let mut whole = BTreeMap::new();
        for (host, n) in entries {
            let w = n
                .as_u64()
                .filter(|w| *w <= u64::from(TOTAL))
                .ok_or_else(|| not_a_percentage(host, n))?;
            whole.insert(host.clone(), w as u32);
        }
        Weights::new(whole)
    }

    /// The canary's step: `canary` gets `weight` percent, `stable` the rest.
    pub(crate) fn split(stable: &str, canary: &str, weight: u32) -> Result<Self, FieldError> {
        let rest = TOTAL
            .checked_sub(weight)
            .ok_or_else(|| not_a_percentage(canary, &weight))?;
        Weights::new(BTreeMap::from([
            (stable.to_string(), rest),
            (canary.to_string(), weight),
        ]))
    }

    #[cfg(test)]
    pub(crate) fn get(&self, host: &str) -> Option<u32> {
        self.0.get(host).copied()
    }

    /// By host, in host order.
    pub(crate) fn by_host(&self) -> &BTreeMap<String, u32> {
        &self.0
    }
}

/// `kyc-credit-check-basic 90, kyc-credit-check-advanced 10`.
impl std::fmt::Display for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self.0.iter().map(|(h, w)| format!("{h} {w}")).collect();
        f.write_str(&shown.join(", "))
    }
}

fn not_a_percentage(host: &str, n: &impl std::fmt::Display) -> FieldError {
    FieldError::new(
        format!("weights.{host}"),
        format!("{n} is not a whole number from 0 to {TOTAL}"),
    )
}

/// Check `weights` for route `r` against the objects of the registry: the VirtualService (or
/// HTTPRoute) and its route (or rule) exist, it has several destinations and `weights` names
/// exactly them.
pub(crate) fn check(
    registry: &Registry<'_>,
    r: &RouteRef,
    weights: &Weights,
) -> Result<(), FieldError> {
    let hosts = destinations(registry, r)?;
    if hosts.len() < 2 {
        return Err(FieldError::new(
            "route",
            format!("{r} has one destination; only a route with several can be weighted"),
        ));
    }
    fits(&hosts, weights)
}

/// The destination hosts of route `r`, in order: the http route of a VirtualService, else the
/// named rule of an HTTPRoute (whose backends are Services: their names are the hosts). Err
/// names the field.
pub(crate) fn destinations(
    registry: &Registry<'_>,
    r: &RouteRef,
) -> Result<Vec<String>, FieldError> {
    let (vs, route) = (&r.virtual_service, &r.route);
    match registry.http_route(r) {
        Ok(found) => Ok(found
            .route
            .route
            .iter()
            .map(|d| d.destination.host.clone())
            .collect()),
        Err(RouteMissing::NoVirtualService) => {
            let mut any = false;
            let mut rules = Vec::new();
            for (_, h) in registry
                .http_routes
                .iter()
                .filter(|(_, h)| &h.metadata.name == vs)
            {
                any = true;
                if let Some(rule) = h
                    .spec
                    .rules
                    .iter()
                    .find(|x| x.name.as_deref() == Some(route))
                {
                    return Ok(rule.backend_refs.iter().map(|b| b.name.clone()).collect());
                }
                rules.extend(h.spec.rules.iter().filter_map(|x| x.name.clone()));
            }
            Err(if any {
                FieldError::new(
                    "route",
                    format!(
                        "HTTPRoute {vs:?} has no rule named {route:?} (its named rules: {})",
                        rules.join(", ")
                    ),
                )
            } else {
                FieldError::new(
                    "virtualService",
                    format!("no VirtualService or HTTPRoute {vs:?} in the mesh"),
                )
            })
        }
        Err(RouteMissing::NoRoute { routes }) => Err(FieldError::new(
            "route",
            format!(
                "VirtualService {vs:?} has no http route {route:?} (its routes: {})",
                routes.join(", ")
            ),
        )),
    }
}

/// Whether `weights` names exactly the destinations `hosts` (of one route), one host each.
fn fits(hosts: &[String], weights: &Weights) -> Result<(), FieldError> {
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let mut unique = hosts.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != hosts.len() {
        return Err(FieldError::new(
            "weights",
            "two destinations share a host: weights cannot be set by host",
        ));
    }
    if let Some(extra) = weights.0.keys().find(|h| !hosts.contains(&h.as_str())) {
        return Err(FieldError::new(
            format!("weights.{extra}"),
            format!(
                "not a destination of the route (its destinations: {})",
                hosts.join(", ")
            ),
        ));
    }
    if let Some(missing) = hosts.iter().find(|h| !weights.0.contains_key(**h)) {
        return Err(FieldError::new(
            format!("weights.{missing}"),
            "missing (every destination needs a weight)",
        ));
    }
    Ok(())
}

/// One destination of a weighted route and its weight in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeightedDestination {
    pub(crate) host: String,
    pub(crate) subset: Option<String>,
    pub(crate) weight: u32,
}

/// What holds a weighted route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum RouteKind {
    /// An http route of a VirtualService (`route.virtual_service` names it).
    #[default]
    VirtualService,
    /// A named rule of a Gateway API HTTPRoute (`route.virtual_service` names the HTTPRoute);
    /// `services`: the Services among its parents (GAMMA: in ambient mode, the waypoint of
    /// such a Service applies it).
    HttpRoute { services: Vec<String> },
}

/// An http route with several destinations and the weights in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeightedRoute {
    pub(crate) route: RouteRef,
    pub(crate) kind: RouteKind,
    pub(crate) destinations: Vec<WeightedDestination>,
    /// The weights come from a runtime override (`set-weights`), not from the files.
    pub(crate) overridden: bool,
}

/// Every http route with several destinations (VirtualService http routes, then named
/// HTTPRoute rules), with the weights in force (`objects` already have the overrides applied)
/// and whether they come from an override.
pub(crate) fn weighted_routes(objects: &[Loaded], overrides: &Overrides) -> Vec<WeightedRoute> {
    let mut out = Vec::new();
    for l in objects {
        let Object::HttpRoute(h) = &l.object else {
            continue;
        };
        let services: Vec<String> = h
            .spec
            .parent_refs
            .iter()
            .filter(|p| p.kind.as_deref() == Some("Service"))
            .map(|p| p.name.clone())
            .collect();
        for rule in h.spec.rules.iter().filter(|r| r.backend_refs.len() > 1) {
            let Some(name) = &rule.name else {
                continue; // an unnamed rule cannot be addressed
            };
            let route = RouteRef::new(&h.metadata.name, name);
            out.push(WeightedRoute {
                overridden: overrides.get(&route).is_some(),
                route,
                kind: RouteKind::HttpRoute {
                    services: services.clone(),
                },
                destinations: rule
                    .backend_refs
                    .iter()
                    .map(|b| WeightedDestination {
                        host: b.name.clone(),
                        subset: None,
                        weight: b.weight(),
                    })
                    .collect(),
            });
        }
    }
    let mut vs_routes = Vec::new();
    for l in objects {
        let Object::VirtualService(vs) = &l.object else {
            continue;
        };
        for r in vs.spec.http.iter().filter(|r| r.route.len() > 1) {
            let route = RouteRef::new(&vs.metadata.name, r.name.clone().unwrap_or_default());
            vs_routes.push(WeightedRoute {
                overridden: overrides.get(&route).is_some(),
                route,
                kind: RouteKind::VirtualService,
                destinations: r
                    .route
                    .iter()
                    .map(|d| WeightedDestination {
                        host: d.destination.host.clone(),
                        subset: d.destination.subset.clone(),
                        weight: d.weight.unwrap_or(0),
                    })
                    .collect(),
            });
        }
    }
    vs_routes.extend(out);
    vs_routes
}

/// Every override in force (the state file's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Overrides {
    pub(crate) v: u32,
    pub(crate) routes: Vec<Override>,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            v: FORMAT,
            routes: Vec::new(),
        }
    }
}

/// The weights of one http route of one VirtualService, by destination host (the file's
/// format: `{"virtualService": …, "route": …, "weights": {host: percent}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Override {
    pub(crate) virtual_service: String,
    pub(crate) route: String,
    pub(crate) weights: BTreeMap<String, u32>,
}

impl Override {
    fn names(&self, r: &RouteRef) -> bool {
        self.virtual_service == r.virtual_service && self.route == r.route
    }
}

pub(crate) fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// An unreadable `weights.json`.
#[cfg(test)]
#[derive(Debug, thiserror::Error)]
pub(crate) enum OverridesError {
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    #[error("{0}: {1}")]
    Json(PathBuf, #[source] serde_json::Error),
    #[error("{0}: format {1} (expected {FORMAT})")]
    Format(PathBuf, u32),
}

impl Overrides {
    /// The overrides of `state_dir`: none when there is no file; Err names the file.
    #[cfg(test)]
    pub(crate) fn read(state_dir: &Path) -> Result<Self, OverridesError> {
        let file = path(state_dir);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(OverridesError::Io(file, e)),
        };
        let o: Overrides =
            serde_json::from_str(&text).map_err(|e| OverridesError::Json(file.clone(), e))?;
        if o.v != FORMAT {
            return Err(OverridesError::Format(file, o.v));
        }
        Ok(o)
    }

    /// Replace the file atomically.
    pub(crate) fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        crate::files::write_json(&path(state_dir), self)
    }

    pub(crate) fn get(&self, r: &RouteRef) -> Option<&Override> {
        self.routes.iter().find(|o| o.names(r))
    }

    /// Set (or with `None`, clear) the override of one route.
    pub(crate) fn set(&mut self, r: &RouteRef, weights: Option<&Weights>) {
        self.routes.retain(|o| !o.names(r));
        if let Some(weights) = weights {
            self.routes.push(Override {
                virtual_service: r.virtual_service.clone(),
                route: r.route.clone(),
                weights: weights.0.clone(),
            });
        }
    }
}

/// Apply every override to the loaded objects (a VirtualService's http route, or a named rule
/// of an HTTPRoute: its backends' weights become the percentages); one note per override that
/// no longer fits them (its route or a destination is gone, e.g. after a scenario switch):
/// that one is skipped.
pub(crate) fn apply(objects: &mut [Loaded], overrides: &Overrides) -> Vec<String> {
    let mut notes = Vec::new();
    for o in &overrides.routes {
        let shown = format!("{}/{}", o.virtual_service, o.route);
        let mut found = false;
        for l in objects.iter_mut() {
            let (hosts, weights): (Vec<String>, Vec<&mut Option<u32>>) = match &mut l.object {
                Object::VirtualService(vs) if vs.metadata.name == o.virtual_service => {
                    let Some(route) = vs.spec.route_named_mut(&o.route) else {
                        continue;
                    };
                    route
                        .route
                        .iter_mut()
                        .map(|d| (d.destination.host.clone(), &mut d.weight))
                        .unzip()
                }
                Object::HttpRoute(h) if h.metadata.name == o.virtual_service => {
                    let rule = h
                        .spec
                        .rules
                        .iter_mut()
                        .find(|r| r.name.as_deref() == Some(o.route.as_str()));
                    let Some(rule) = rule else {
                        continue;
                    };
                    rule.backend_refs
                        .iter_mut()
                        .map(|b| (b.name.clone(), &mut b.weight))
                        .unzip()
                }
                _ => continue,
            };
            found = true;
            // An override read back from a file is checked like a request.
            let fitting = Weights::new(o.weights.clone()).and_then(|w| fits(&hosts, &w));
            if let Err(e) = fitting {
                notes.push(format!("weight override of {shown} not applied: {e}"));
                continue;
            }
            for (host, weight) in hosts.iter().zip(weights) {
                *weight = o.weights.get(host).copied();
            }
        }
        if !found {
            notes.push(format!(
                "weight override of {shown} not applied: no such route now"
            ));
        }
    }
    notes
}

#[cfg(test)]
#[path = "weights_tests.rs"]
mod tests;
