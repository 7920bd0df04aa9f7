//! Runtime weight overrides: the weights of one weighted http route, set through the control
//! socket (`set-weights`, the canary) instead of an edit of networking/.
//!
//! They live in the state directory (`weights.json`, written atomically), beside the scenario
//! that `use` switches: every translation `up` makes applies them on top of networking/ and the
//! scenario ([`apply`]), so they survive `kyc-mesh use` and edits of other objects, and the
//! user's files are never rewritten. `up` clears them when it starts (a new mesh starts from
//! the files). `check`, `render` and `split` never read them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::control::state::{RouteDestinationState, WeightedRoute};
use crate::istio::{HttpRoute, Loaded, Object, VirtualService};

pub const FILE: &str = "weights.json";
const FORMAT: u32 = 1;

/// Every override in force (the state file's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub v: u32,
    pub routes: Vec<Override>,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            v: FORMAT,
            routes: Vec::new(),
        }
    }
}

/// The weights of one http route of one VirtualService, by destination host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Override {
    pub virtual_service: String,
    pub route: String,
    pub weights: BTreeMap<String, u32>,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

impl Overrides {
    /// The overrides of `state_dir`: none when there is no file; Err names the file.
    pub fn read(state_dir: &Path) -> Result<Self, String> {
        let file = path(state_dir);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        let o: Overrides =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        if o.v != FORMAT {
            return Err(format!(
                "{}: format {} (expected {FORMAT})",
                file.display(),
                o.v
            ));
        }
        Ok(o)
    }

    /// Replace the file atomically (temp file + rename in the same directory).
    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        crate::files::write_json(&path(state_dir), self)
    }

    pub fn get(&self, vs: &str, route: &str) -> Option<&Override> {
        self.routes
            .iter()
            .find(|o| o.virtual_service == vs && o.route == route)
    }

    /// Set (or with `None`, clear) the override of one route.
    pub fn set(&mut self, vs: &str, route: &str, weights: Option<BTreeMap<String, u32>>) {
        self.routes
            .retain(|o| !(o.virtual_service == vs && o.route == route));
        if let Some(weights) = weights {
            self.routes.push(Override {
                virtual_service: vs.to_string(),
                route: route.to_string(),
                weights,
            });
        }
    }
}

fn virtual_services<'a>(
    objects: &'a mut [Loaded],
    name: &'a str,
) -> impl Iterator<Item = &'a mut VirtualService> + 'a {
    objects.iter_mut().filter_map(move |l| match &mut l.object {
        Object::VirtualService(vs) if vs.metadata.name == name => Some(vs),
        _ => None,
    })
}

/// Apply every override to the loaded objects; one note per override that no longer fits them
/// (its route or a destination is gone, e.g. after a scenario switch): that one is skipped.
pub fn apply(objects: &mut [Loaded], overrides: &Overrides) -> Vec<String> {
    let mut notes = Vec::new();
    for o in &overrides.routes {
        let mut found = false;
        for vs in virtual_services(objects, &o.virtual_service) {
            let Some(route) = vs
                .spec
                .http
                .iter_mut()
                .find(|r| r.name.as_deref() == Some(o.route.as_str()))
            else {
                continue;
            };
            found = true;
            if let Err(e) = fits(route, &o.weights) {
                notes.push(format!(
                    "weight override of {}/{} not applied: {e}",
                    o.virtual_service, o.route
                ));
                continue;
            }
            for d in &mut route.route {
                d.weight = o.weights.get(&d.destination.host).copied();
            }
        }
        if !found {
            notes.push(format!(
                "weight override of {}/{} not applied: no such route now",
                o.virtual_service, o.route
            ));
        }
    }
    notes
}

/// Whether `weights` names exactly the destinations of `route`, one host each.
fn fits(route: &HttpRoute, weights: &BTreeMap<String, u32>) -> Result<(), String> {
    let hosts: Vec<&str> = route
        .route
        .iter()
        .map(|d| d.destination.host.as_str())
        .collect();
    let mut unique = hosts.clone();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() != hosts.len() {
        return Err("two destinations share a host: weights cannot be set by host".into());
    }
    if let Some(extra) = weights.keys().find(|h| !hosts.contains(&h.as_str())) {
        return Err(format!(
            "weights.{extra}: not a destination of the route (its destinations: {})",
            hosts.join(", ")
        ));
    }
    if let Some(missing) = hosts.iter().find(|h| !weights.contains_key(**h)) {
        return Err(format!(
            "weights.{missing}: missing (every destination needs a weight)"
        ));
    }
    Ok(())
}

/// Check a `set-weights` request against the objects now loaded: the VirtualService, its
/// weighted route and every destination exist, each weight is a whole number and they add up
/// to 100. Err names the field.
pub fn validate(
    objects: &[Loaded],
    vs: &str,
    route: &str,
    weights: &BTreeMap<String, serde_json::Number>,
) -> Result<BTreeMap<String, u32>, String> {
    let services: Vec<&VirtualService> = objects
        .iter()
        .filter_map(|l| match &l.object {
            Object::VirtualService(v) if v.metadata.name == vs => Some(v),
            _ => None,
        })
        .collect();
    if services.is_empty() {
        return Err(format!(
            "virtualService: no VirtualService {vs:?} in the mesh"
        ));
    }
    let Some(http) = services
        .iter()
        .flat_map(|v| &v.spec.http)
        .find(|r| r.name.as_deref() == Some(route))
    else {
        let names: Vec<&str> = services
            .iter()
            .flat_map(|v| &v.spec.http)
            .filter_map(|r| r.name.as_deref())
            .collect();
        return Err(format!(
            "route: VirtualService {vs:?} has no http route {route:?} (its routes: {})",
            names.join(", ")
        ));
    };
    if http.route.len() < 2 {
        return Err(format!(
            "route: {vs}/{route} has one destination; only a route with several can be weighted"
        ));
    }
    let mut whole = BTreeMap::new();
    for (host, n) in weights {
        let w = n
            .as_u64()
            .filter(|w| *w <= 100)
            .ok_or_else(|| format!("weights.{host}: {n} is not a whole number from 0 to 100"))?;
        whole.insert(host.clone(), w as u32);
    }
    fits(http, &whole)?;
    let total: u32 = whole.values().sum();
    if total != 100 {
        return Err(format!("weights: they add up to {total}, not 100"));
    }
    Ok(whole)
}

/// Every http route with several destinations, with the weights in force (`objects` already
/// have the overrides applied) and whether they come from an override.
pub fn weighted_routes(objects: &[Loaded], overrides: &Overrides) -> Vec<WeightedRoute> {
    let mut out = Vec::new();
    for l in objects {
        let Object::VirtualService(vs) = &l.object else {
            continue;
        };
        for r in vs.spec.http.iter().filter(|r| r.route.len() > 1) {
            let route = r.name.clone().unwrap_or_default();
            out.push(WeightedRoute {
                overridden: overrides.get(&vs.metadata.name, &route).is_some(),
                virtual_service: vs.metadata.name.clone(),
                route,
                destinations: r
                    .route
                    .iter()
                    .map(|d| RouteDestinationState {
                        host: d.destination.host.clone(),
                        subset: d.destination.subset.clone(),
                        weight: d.weight.unwrap_or(0),
                    })
                    .collect(),
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "weights_tests.rs"]
mod tests;
