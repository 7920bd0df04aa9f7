//! What the `state` request answers on the wire: the weighted routes in force, the chaos
//! settings, the canary and the load generator (`ops::MeshState`, mapped by [`super::wire`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::canary::load::LoadStatus;
use crate::canary::model::CanaryStatus;
pub use crate::ops::ChaosSetting;

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
    /// The VirtualService, or the HTTPRoute when `httpRoute` is there.
    pub virtual_service: String,
    /// Its http route's name, or the HTTPRoute rule's.
    pub route: String,
    /// Present for a named rule of a Gateway API HTTPRoute: the Services among its parents
    /// (in ambient mode, their waypoint applies it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_route: Option<HttpRouteParents>,
    pub destinations: Vec<RouteDestinationState>,
    /// The weights come from a runtime override (`set-weights`), not from the files.
    pub overridden: bool,
}

/// The Service parents of an HTTPRoute (GAMMA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteParents {
    pub services: Vec<String>,
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
