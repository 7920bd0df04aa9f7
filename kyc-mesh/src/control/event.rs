//! The events a `subscribe` connection receives, one JSON object per line, tagged by `"event"`:
//! `{"event":"config-applied","routes":[…]}`. `up` publishes them on a broadcast bus; a
//! subscriber that falls behind is dropped (it reconnects and calls `state`), never waited for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::{ChaosSetting, LoadStatus, WeightedRoute};
use crate::canary::model::{CanaryStatus, Check};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// Envoy now runs a new configuration; the weights in force.
    ConfigApplied {
        routes: Vec<WeightedRoute>,
    },
    /// An edit of networking/ (or a scenario) was refused; the last good configuration stays.
    EditRejected {
        error: String,
    },
    /// `kyc-mesh use` switched the scenario (`None`: no scenario).
    ScenarioSwitched {
        scenario: Option<String>,
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
    /// `None`: chaos off.
    ChaosChanged {
        service: String,
        setting: Option<ChaosSetting>,
        /// The one instance it was set on (`<service>-<n>`); absent: every instance.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// A runtime weight override was set (`weights`) or cleared (`None`).
    WeightsOverridden {
        virtual_service: String,
        route: String,
        weights: Option<BTreeMap<String, u32>>,
    },
    /// One analysis interval of the canary ended.
    CanaryCheck {
        check: Box<Check>,
    },
    /// The canary's phase or weight changed (started, paused, promoted, rolled back...).
    CanaryPhase {
        status: Box<CanaryStatus>,
    },
    /// The load generator's counters, once a second while it runs.
    Load {
        load: LoadStatus,
    },
}

/// How many events a subscriber may fall behind before it is dropped.
pub const BUS_CAPACITY: usize = 256;
