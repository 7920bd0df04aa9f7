//! What the `state` request answers (and the dashboard shows): the weighted routes in force,
//! the chaos settings, the canary and the load generator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canary::model::CanaryStatus;

/// One destination of a weighted route and its weight in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestinationState {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    pub weight: u32,
}

/// An http route with several destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedRoute {
    pub virtual_service: String,
    pub route: String,
    pub destinations: Vec<RouteDestinationState>,
    /// The weights come from a runtime override (`set-weights`), not from the files.
    pub overridden: bool,
}

/// A service's runtime chaos (what `PUT /admin/chaos` of its instances was given).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChaosSetting {
    pub error_rate: f64,
    pub delay_ms: u64,
}

impl ChaosSetting {
    pub fn is_off(&self) -> bool {
        self.error_rate == 0.0 && self.delay_ms == 0
    }
}

/// The built-in load generator (`load` request, `canary --load`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LoadStatus {
    /// Requests per second asked for; 0 = stopped.
    pub rps: u32,
    pub sent: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Not answered 2xx (or not answered at all), `injected` included.
    pub failed: u64,
    /// Failures whose answer names an injected failure (runtime or env chaos): expected
    /// while chaos is on; every other failure is the mesh's.
    pub injected: u64,
}

/// The answer of `state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshState {
    pub routes: Vec<WeightedRoute>,
    /// By service; a service absent has no runtime chaos (its env knobs apply).
    pub chaos: BTreeMap<String, ChaosSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    pub load: LoadStatus,
}
