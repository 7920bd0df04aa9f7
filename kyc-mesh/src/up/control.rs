//! The control requests, answered in `up`'s loop in order with reloads and restarts.

use crate::control::protocol::{Refusal, Request, Response};

use crate::canary::run::Command;

use super::live::Live;

pub(super) async fn handle(live: &mut Live<'_>, request: Request) -> Response {
    match request {
        Request::RolloutRestart { service } => {
            live.fleet.rollout_restart(&service, &mut *live.mesh).await
        }
        Request::SetWeights {
            virtual_service,
            route,
            weights,
        } => live.set_weights(&virtual_service, &route, weights).await,
        Request::Chaos {
            service,
            instance,
            error_rate,
            delay_ms,
            off,
        } => match super::chaos::setting(error_rate, delay_ms, off) {
            Ok(setting) => {
                let bus = live.bus.clone();
                live.fleet
                    .chaos(&service, instance.as_deref(), setting, &bus)
                    .await
            }
            Err(e) => Response::refused(Refusal::BadRequest, e),
        },
        Request::State => live.answer("mesh state".into()),
        // Answered by the server itself (it keeps the connection for the events).
        Request::Subscribe => Response::done("subscribed"),
        Request::CanaryStart(spec) => live.canary_start(spec),
        Request::CanaryPromote => live.canary_command(Command::Promote),
        Request::CanaryAbort => live.canary_command(Command::Abort),
        Request::CanaryStatus => match &live.canary {
            Some(c) => live.answer(format!("canary {:?}", c.status().phase)),
            None => Response::refused(Refusal::Conflict, "no canary has run in this mesh"),
        },
        Request::Load { rps } => live.load(rps),
    }
}
