//! The control vocabulary of the running mesh, in domain types: what a client asks ([`Op`]),
//! what `up` answers ([`Outcome`]), what it announces ([`MeshEvent`]) and its state
//! ([`MeshState`]). `up` speaks only these. The edges turn their own input into them once —
//! the control socket (`control::wire`, the one mapping to and from the JSON protocol), the
//! dashboard's HTTP API, the canary's in-process step — and send them through [`Calls`] into
//! `up`'s loop, which answers in order with reloads and restarts.

mod event;
mod state;

pub(crate) use event::{MeshEvent, BUS_CAPACITY};
pub use state::ChaosSetting;
pub(crate) use state::MeshState;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::canary::model::CanarySpec;
use crate::field::FieldError;
use crate::istio::RouteRef;
use crate::weights::Weights;

/// Something asked of the running mesh.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// Replace a service's instances without losing a request (maxSurge 1, maxUnavailable 0).
    RolloutRestart {
        service: String,
    },
    /// Override the weights of one weighted route (`None`: the files' weights again).
    SetWeights {
        route: RouteRef,
        weights: Option<Weights>,
    },
    /// Runtime chaos on every instance of `service`, or on `instance` (a pod name); `None`: off.
    Chaos {
        service: String,
        instance: Option<String>,
        setting: Option<ChaosSetting>,
    },
    /// The weighted routes, chaos, canary and load generator.
    State,
    /// Switch the scenario: a name of networking/scenarios, a file, or `None` (networking/ only).
    Use {
        scenario: Option<String>,
    },
    CanaryStart(CanarySpec),
    CanaryPromote,
    CanaryAbort,
    CanaryStatus,
    /// Run the load generator at `rps` requests a second (0 stops it).
    Load {
        rps: u32,
    },
}

/// Why a request was not done (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a service of the topology.
    UnknownService,
    /// The mesh cannot do it now (services run outside it, the service is restarting, ...).
    Unavailable,
    /// A value is invalid (the refusal names the field).
    BadRequest,
    /// A canary already runs, or none runs for promote/abort.
    Conflict,
}

/// A refusal: why, the field at fault if one is, and the line for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) reason: Refusal,
    pub(crate) field: Option<String>,
    pub(crate) message: String,
}

/// What `up` answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Done; with the mesh's state for the requests that read or change it.
    Done {
        message: String,
        state: Option<Box<MeshState>>,
    },
    Refused(Refused),
    /// Started but could not finish; the message says what state the mesh is in.
    Failed {
        message: String,
    },
}

impl Refused {
    pub(crate) fn new(reason: Refusal, message: impl Into<String>) -> Self {
        Refused {
            reason,
            field: None,
            message: message.into(),
        }
    }
}

impl Outcome {
    pub(crate) fn done(message: impl Into<String>) -> Self {
        Outcome::Done {
            message: message.into(),
            state: None,
        }
    }

    pub(crate) fn refused(reason: Refusal, message: impl Into<String>) -> Self {
        Outcome::Refused(Refused::new(reason, message))
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Outcome::Failed {
            message: message.into(),
        }
    }
}

/// An invalid value: a bad request naming its field.
impl From<FieldError> for Refused {
    fn from(e: FieldError) -> Self {
        Refused {
            reason: Refusal::BadRequest,
            message: e.to_string(),
            field: Some(e.field),
        }
    }
}

impl From<FieldError> for Outcome {
    fn from(e: FieldError) -> Self {
        Outcome::Refused(e.into())
    }
}

impl From<Refused> for Outcome {
    fn from(r: Refused) -> Self {
        Outcome::Refused(r)
    }
}

/// One request for `up`'s loop; answered through `reply`.
pub(crate) struct Call {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Outcome>,
}

/// Where requests go to `up`'s loop: the control socket's, the dashboard's, the canary's.
#[derive(Clone)]
pub(crate) struct Calls(mpsc::Sender<Call>);

/// The channel into `up`'s loop: the senders' handle and the loop's receiver.
pub(crate) fn channel() -> (Calls, mpsc::Receiver<Call>) {
    let (tx, rx) = mpsc::channel(16);
    (Calls(tx), rx)
}

impl Calls {
    /// Ask and wait for the answer; `None` when the loop is gone (the mesh is stopping).
    pub(crate) async fn ask(&self, op: Op) -> Option<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.0.send(Call { op, reply }).await.ok()?;
        answer.await.ok()
    }

    /// [`Calls::ask`], giving up after `timeout` (the loop may be busy with a reload).
    pub(crate) async fn ask_within(&self, op: Op, timeout: Duration) -> Option<Outcome> {
        tokio::time::timeout(timeout, self.ask(op))
            .await
            .ok()
            .flatten()
    }
}
