//! The messages of the control channel, one JSON object per line. `"v"` is the protocol
//! version: a peer refuses a version it does not speak instead of guessing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::MeshState;
use crate::canary::model::CanarySpec;

pub const VERSION: u32 = 1;

/// A request line: `{"v":1,"request":"rollout-restart","service":"kyc-credit-check-basic"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub request: Request,
}

/// Every request of protocol version 1 (new requests were added without changing the old ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "request",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Request {
    /// Replace a service's instance without losing a request (maxSurge 1, maxUnavailable 0).
    RolloutRestart { service: String },
    /// Override the weights of one weighted http route at run time, by destination host
    /// (`{"kyc-credit-check-basic":90,"kyc-credit-check-advanced":10}`); `null` clears the
    /// override (the files' weights apply again). Whole numbers adding up to 100.
    SetWeights {
        virtual_service: String,
        route: String,
        weights: Option<BTreeMap<String, serde_json::Number>>,
    },
    /// Runtime chaos on every instance of `service` (or only on `instance`, a pod name such
    /// as `kyc-credit-check-advanced-1`): `errorRate` (0..1) and `delayMs` (0..60000), or
    /// `off: true`.
    Chaos {
        service: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        #[serde(default)]
        error_rate: Option<f64>,
        #[serde(default)]
        delay_ms: Option<u64>,
        #[serde(default)]
        off: bool,
    },
    /// Keep the connection open: an answer line, then one [`super::event::Event`] per line.
    Subscribe,
    /// The weighted routes, chaos settings, canary and load generator ([`MeshState`]).
    State,
    /// Switch the scenario, like `kyc-mesh use`: a name of networking/scenarios, a file, or
    /// `null` (networking/ only); answered once every proxy runs it.
    Use { scenario: Option<String> },
    /// Start the canary analysis inside `up` (one at a time).
    CanaryStart(CanarySpec),
    /// Roll the running canary back (100 % stable) and stop it.
    CanaryAbort,
    /// Promote the running canary now (100 % canary): also the answer to a `--pause-at` gate.
    CanaryPromote,
    /// The canary's phase, weight, failed checks and last figures (also after it ended).
    CanaryStatus,
    /// Run the built-in load generator at `rps` requests per second (0 stops it).
    Load { rps: u32 },
}

/// A response line: `{"outcome":"done","message":"…"}` or `{"outcome":"refused",…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Response {
    Done {
        message: String,
        /// The mesh's state, for `state`, `canary-status` and the requests that change it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<Box<MeshState>>,
    },
    /// Not done; nothing changed (`reason` says why, `message` for the user).
    Refused { reason: Refusal, message: String },
    /// Started but could not finish; the message says what state the mesh is in.
    Failed { message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// Not a service of the topology.
    UnknownService,
    /// The mesh cannot do it now (services run outside it, the service is restarting, ...).
    Unavailable,
    /// The request line could not be read (bad JSON, unknown request, other version), or a
    /// field's value is invalid (the message names the field).
    BadRequest,
    /// A canary already runs (the message names it), or none runs for promote/abort.
    Conflict,
}

impl Response {
    pub fn done(message: impl Into<String>) -> Self {
        Response::Done {
            message: message.into(),
            state: None,
        }
    }

    pub fn refused(reason: Refusal, message: impl Into<String>) -> Self {
        Response::Refused {
            reason,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Response::Failed {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_one_flat_object() {
        let e = Envelope {
            v: VERSION,
            request: Request::RolloutRestart {
                service: "kyc-credit-check-basic".into(),
            },
        };
        let line = serde_json::to_string(&e).expect("json");
        assert_eq!(
            line,
            r#"{"v":1,"request":"rollout-restart","service":"kyc-credit-check-basic"}"#
        );
        assert_eq!(serde_json::from_str::<Envelope>(&line).expect("back"), e);
        let r = Response::Refused {
            reason: Refusal::UnknownService,
            message: "x".into(),
        };
        let line = serde_json::to_string(&r).expect("json");
        assert_eq!(
            line,
            r#"{"outcome":"refused","reason":"unknown-service","message":"x"}"#
        );
        assert_eq!(
            serde_json::to_string(&Response::done("ok")).expect("json"),
            r#"{"outcome":"done","message":"ok"}"#,
            "v1 answers keep their shape"
        );
    }

    #[test]
    fn new_requests_read_as_documented() {
        let read = |line: &str| serde_json::from_str::<Envelope>(line).map(|e| e.request);
        let r = read(r#"{"v":1,"request":"set-weights","virtualService":"vs","route":"r","weights":{"a":90,"b":10}}"#)
            .expect("set-weights");
        assert!(matches!(r, Request::SetWeights { weights: Some(w), .. } if w.len() == 2));
        let r = read(
            r#"{"v":1,"request":"set-weights","virtualService":"vs","route":"r","weights":null}"#,
        )
        .expect("clear");
        assert!(matches!(r, Request::SetWeights { weights: None, .. }));
        let r = read(r#"{"v":1,"request":"chaos","service":"s","errorRate":0.3,"delayMs":200}"#)
            .expect("chaos");
        assert_eq!(
            r,
            Request::Chaos {
                service: "s".into(),
                instance: None,
                error_rate: Some(0.3),
                delay_ms: Some(200),
                off: false
            }
        );
        assert_eq!(
            read(r#"{"v":1,"request":"subscribe"}"#).expect("sub"),
            Request::Subscribe
        );
        assert_eq!(
            read(r#"{"v":1,"request":"state"}"#).expect("state"),
            Request::State
        );
        assert_eq!(
            read(r#"{"v":1,"request":"use","scenario":"canary-90-10"}"#).expect("use"),
            Request::Use {
                scenario: Some("canary-90-10".into())
            }
        );
        assert_eq!(
            read(r#"{"v":1,"request":"use","scenario":null}"#).expect("use none"),
            Request::Use { scenario: None }
        );
        let start = serde_json::to_value(Envelope {
            v: VERSION,
            request: Request::CanaryStart(CanarySpec::default()),
        })
        .expect("json");
        assert_eq!(start["request"], "canary-start");
        assert_eq!(start["stepWeight"], 10);
        assert!(read(&start.to_string()).is_ok());
        assert!(read(r#"{"v":1,"request":"chaos","service":"s","errorRat":0.3}"#).is_err());
    }
}
