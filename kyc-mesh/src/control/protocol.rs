//! The messages of the control channel, one JSON object per line. `"v"` is the protocol
//! version: a peer refuses a version it does not speak instead of guessing.

use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

/// A request line: `{"v":1,"request":"rollout-restart","service":"kyc-credit-check-basic"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Replace a service's instance without losing a request (maxSurge 1, maxUnavailable 0).
    RolloutRestart { service: String },
}

/// A response line: `{"outcome":"done","message":"…"}` or `{"outcome":"refused",…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Response {
    Done {
        message: String,
    },
    /// Not done; nothing changed (`reason` says why, `message` for the user).
    Refused {
        reason: Refusal,
        message: String,
    },
    /// Started but could not finish; the message says what state the mesh is in.
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// Not a service of the topology.
    UnknownService,
    /// The mesh cannot do it now (services run outside it, the service is restarting, ...).
    Unavailable,
    /// The request line could not be read (bad JSON, unknown request, other version).
    BadRequest,
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
    }
}
