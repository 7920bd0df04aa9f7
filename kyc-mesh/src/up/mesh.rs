//! The running mesh as `up`'s loop holds it: the options, the service instances ([`Fleet`]),
//! the Envoys ([`Proxies`]) and where they listen ([`Layout`]), the configuration generations
//! ([`Config`]), the canary and load generator ([`Canary`]) and the event bus. The requests
//! (`super::control`) and the configuration changes (`super::reconfigure`) act on it.

use tokio::sync::broadcast;

use crate::ops::{MeshEvent, MeshState, Outcome};

use super::ambient_layout::AmbientLayout;
use super::canary::Canary;
use super::config::Config;
use super::fleet::Fleet;
use super::layout::Layout;
use super::options::UpOptions;
use super::proxies::Proxies;
use super::waypoints::LiveAmbient;

pub(super) struct Mesh<'a> {
    pub(crate) o: &'a UpOptions,
    pub(crate) fleet: &'a mut Fleet,
    /// The Envoys (gateway and sidecars), each with the last good translation it holds.
    pub(crate) proxies: &'a mut Proxies,
    /// Where the sidecars and their apps listen (fixed for the mesh's life).
    pub(crate) layout: &'a Layout,
    pub(crate) config: &'a mut Config,
    pub(crate) canary: Canary,
    pub(crate) bus: broadcast::Sender<MeshEvent>,
    /// Ambient mode: its workloads and its data plane (fixed for the mesh's life).
    pub(crate) ambient: Option<&'a (std::collections::BTreeSet<&'static str>, AmbientLayout)>,
    /// Ambient mode: the waypoints as they run (their routes change with each generation).
    pub(crate) live_ambient: Option<LiveAmbient>,
    /// A `use` moved workloads between the data planes: the loop ends, `up` starts again.
    pub(crate) restart: bool,
}

impl Mesh<'_> {
    pub(super) fn publish(&self, event: MeshEvent) {
        // No subscriber is not an error.
        let _ = self.bus.send(event);
    }

    pub(super) fn state(&self) -> MeshState {
        MeshState {
            routes: self.config.current().routes.clone(),
            chaos: self.fleet.chaos.clone(),
            canary: self.canary.status(),
            load: self.canary.load_status(),
        }
    }

    /// A `done` answer carrying the mesh's state.
    pub(super) fn answer(&self, message: String) -> Outcome {
        Outcome::Done {
            message,
            state: Some(Box::new(self.state())),
        }
    }
}
