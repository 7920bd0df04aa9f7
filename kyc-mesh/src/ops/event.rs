//! What `up` announces on its event bus: the dashboard's log reads them in-process, the
//! control socket streams them to `subscribe` connections (as `control::event::Event`, one
//! JSON line each). A subscriber that falls behind is dropped, never waited for.

use std::path::PathBuf;

use crate::canary::load::LoadStatus;
use crate::canary::model::{CanaryStatus, Check};
use crate::istio::RouteRef;
use crate::weights::{WeightedRoute, Weights};

use super::ChaosSetting;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MeshEvent {
    /// Envoy now runs a new configuration; the weights in force.
    ConfigApplied {
        routes: Vec<WeightedRoute>,
    },
    /// An edit of networking/ (or a scenario) was refused; the last good configuration stays.
    EditRejected {
        error: String,
    },
    /// The scenario was switched (`None`: networking/ only).
    ScenarioSwitched {
        scenario: Option<PathBuf>,
    },
    ServiceExited {
        service: String,
        status: String,
    },
    /// A restarted (or rolled-out) instance is ready.
    ServiceRestarted {
        service: String,
        pid: u32,
        port: u16,
    },
    /// `None`: chaos off; `instance`: the one instance it was set on (else every instance).
    ChaosChanged {
        service: String,
        setting: Option<ChaosSetting>,
        instance: Option<String>,
    },
    /// A runtime weight override was set (`weights`) or cleared (`None`).
    WeightsOverridden {
        route: RouteRef,
        weights: Option<Weights>,
    },
    /// One analysis interval of the canary ended.
    CanaryCheck(Box<Check>),
    /// The canary's phase or weight changed (started, paused, promoted, rolled back...).
    CanaryPhase(Box<CanaryStatus>),
    /// The load generator's counters, once a second while it runs.
    Load(LoadStatus),
}

impl MeshEvent {
    /// Its name on the wire and in the dashboard's log (`config-applied`, ...).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            MeshEvent::ConfigApplied { .. } => "config-applied",
            MeshEvent::EditRejected { .. } => "edit-rejected",
            MeshEvent::ScenarioSwitched { .. } => "scenario-switched",
            MeshEvent::ServiceExited { .. } => "service-exited",
            MeshEvent::ServiceRestarted { .. } => "service-restarted",
            MeshEvent::ChaosChanged { .. } => "chaos-changed",
            MeshEvent::WeightsOverridden { .. } => "weights-overridden",
            MeshEvent::CanaryCheck(_) => "canary-check",
            MeshEvent::CanaryPhase(_) => "canary-phase",
            MeshEvent::Load(_) => "load",
        }
    }
}

/// How many events a subscriber may fall behind before it is dropped.
pub(crate) const BUS_CAPACITY: usize = 256;
