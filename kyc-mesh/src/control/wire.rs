//! The one mapping between the control protocol's JSON types ([`super::protocol`],
//! [`super::event`], [`super::state`]) and the mesh's own ([`crate::ops`]): a request line
//! becomes an [`Op`] (its values parsed once here: weights, chaos), an [`Outcome`] becomes the
//! answer line, a [`MeshEvent`] an event line. `up` never sees the wire types.

use crate::field::FieldError;
use crate::istio::RouteRef;
use crate::ops::{self, ChaosSetting, MeshEvent, MeshState, Op, Outcome};
use crate::weights::{RouteKind, WeightedDestination, WeightedRoute, Weights};

use super::event::Event;
use super::protocol::{Refusal, Request, Response};
use super::state;

/// The mesh's request for a request line; a value that does not parse is refused here, naming
/// its field. `subscribe` is the server's own (it keeps the connection).
pub(crate) fn op(request: Request) -> Result<Op, Response> {
    let refused = |e: FieldError| Response::refused(Refusal::BadRequest, e.to_string());
    Ok(match request {
        Request::RolloutRestart { service } => Op::RolloutRestart { service },
        Request::SetWeights {
            virtual_service,
            route,
            weights,
        } => Op::SetWeights {
            route: RouteRef::new(virtual_service, route),
            weights: weights
                .as_ref()
                .map(Weights::from_json)
                .transpose()
                .map_err(refused)?,
        },
        Request::Chaos {
            service,
            instance,
            error_rate,
            delay_ms,
            off,
        } => Op::Chaos {
            service,
            instance,
            setting: ChaosSetting::from_request(error_rate, delay_ms, off).map_err(refused)?,
        },
        Request::State => Op::State,
        Request::Use { scenario } => Op::Use { scenario },
        Request::CanaryStart(spec) => Op::CanaryStart(spec),
        Request::CanaryPromote => Op::CanaryPromote,
        Request::CanaryAbort => Op::CanaryAbort,
        Request::CanaryStatus => Op::CanaryStatus,
        Request::Load { rps } => Op::Load { rps },
        Request::Subscribe => {
            return Err(Response::refused(
                Refusal::BadRequest,
                "subscribe is answered by the control server",
            ))
        }
    })
}

/// The answer line of an outcome (`None`: `up` stopped before answering).
pub(crate) fn response(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Done { message, state } => Response::Done {
            message,
            state: state.map(|s| Box::new(mesh_state(*s))),
        },
        Outcome::Refused(r) => Response::Refused {
            reason: refusal(r.reason),
            message: r.message,
        },
        Outcome::Failed { message } => Response::Failed { message },
    }
}

fn refusal(r: ops::Refusal) -> Refusal {
    match r {
        ops::Refusal::UnknownService => Refusal::UnknownService,
        ops::Refusal::Unavailable => Refusal::Unavailable,
        ops::Refusal::BadRequest => Refusal::BadRequest,
        ops::Refusal::Conflict => Refusal::Conflict,
    }
}

pub(crate) fn mesh_state(s: MeshState) -> state::MeshState {
    state::MeshState {
        routes: s.routes.iter().map(weighted_route).collect(),
        chaos: s.chaos,
        canary: s.canary,
        load: s.load,
    }
}

pub(crate) fn weighted_route(r: &WeightedRoute) -> state::WeightedRoute {
    state::WeightedRoute {
        virtual_service: r.route.virtual_service.clone(),
        route: r.route.route.clone(),
        http_route: match &r.kind {
            RouteKind::VirtualService => None,
            RouteKind::HttpRoute { services } => Some(state::HttpRouteParents {
                services: services.clone(),
            }),
        },
        destinations: r
            .destinations
            .iter()
            .map(|d| state::RouteDestinationState {
                host: d.host.clone(),
                subset: d.subset.clone(),
                weight: d.weight,
            })
            .collect(),
        overridden: r.overridden,
    }
}

/// A weighted route of a `state` answer, back in the mesh's terms (the CLI's canary prints
/// the YAML to commit from it).
pub(crate) fn route_of(r: &state::WeightedRoute) -> WeightedRoute {
    WeightedRoute {
        route: RouteRef::new(&r.virtual_service, &r.route),
        kind: match &r.http_route {
            None => RouteKind::VirtualService,
            Some(p) => RouteKind::HttpRoute {
                services: p.services.clone(),
            },
        },
        destinations: r
            .destinations
            .iter()
            .map(|d| WeightedDestination {
                host: d.host.clone(),
                subset: d.subset.clone(),
                weight: d.weight,
            })
            .collect(),
        overridden: r.overridden,
    }
}

/// The event line of an event of the bus.
pub(crate) fn event(e: &MeshEvent) -> Event {
    match e.clone() {
        MeshEvent::ConfigApplied { routes } => Event::ConfigApplied {
            routes: routes.iter().map(weighted_route).collect(),
        },
        MeshEvent::EditRejected { error } => Event::EditRejected { error },
        MeshEvent::ScenarioSwitched { scenario } => Event::ScenarioSwitched {
            scenario: scenario.map(|p| p.display().to_string()),
        },
        MeshEvent::ServiceExited { service, status } => Event::ServiceExited { service, status },
        MeshEvent::ServiceRestarted { service, pid, port } => {
            Event::ServiceRestarted { service, pid, port }
        }
        MeshEvent::ChaosChanged {
            service,
            setting,
            instance,
        } => Event::ChaosChanged {
            service,
            setting,
            instance,
        },
        MeshEvent::WeightsOverridden { route, weights } => Event::WeightsOverridden {
            virtual_service: route.virtual_service,
            route: route.route,
            weights: weights.map(|w| w.by_host().clone()),
        },
        MeshEvent::CanaryCheck(check) => Event::CanaryCheck { check },
        MeshEvent::CanaryPhase(status) => Event::CanaryPhase { status },
        MeshEvent::Load(load) => Event::Load { load },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::load::LoadStatus;
    use crate::canary::model::{CanarySpec, CanaryStatus, Check, Phase, Verdict, VersionFigures};

    fn read(line: &str) -> Result<Op, Response> {
        op(
            serde_json::from_str::<super::super::protocol::Envelope>(line)
                .expect("envelope")
                .request,
        )
    }

    #[test]
    fn values_are_parsed_once_here_and_refusals_name_the_field() {
        let w = read(r#"{"v":1,"request":"set-weights","virtualService":"vs","route":"r","weights":{"a":90,"b":10}}"#)
            .expect("valid");
        let Op::SetWeights {
            route,
            weights: Some(w),
        } = w
        else {
            panic!("{w:?}")
        };
        assert_eq!(route.to_string(), "vs/r");
        assert_eq!(w.get("a"), Some(90));
        for (line, start) in [
            (
                r#"{"v":1,"request":"set-weights","virtualService":"vs","route":"r","weights":{"a":90,"b":20}}"#,
                "weights: they add up to 110, not 100",
            ),
            (
                r#"{"v":1,"request":"set-weights","virtualService":"vs","route":"r","weights":{"a":90.5,"b":9.5}}"#,
                "weights.a: 90.5 is not a whole number from 0 to 100",
            ),
            (
                r#"{"v":1,"request":"chaos","service":"s","errorRate":2}"#,
                "errorRate: 2 is not between 0 and 1",
            ),
        ] {
            match read(line) {
                Err(Response::Refused {
                    reason: Refusal::BadRequest,
                    message,
                }) => assert_eq!(message, start),
                other => panic!("{line}: {other:?}"),
            }
        }
        assert!(matches!(
            read(r#"{"v":1,"request":"use","scenario":null}"#),
            Ok(Op::Use { scenario: None })
        ));
    }

    #[test]
    fn every_event_keeps_its_wire_name() {
        let figures = |host: &str| VersionFigures {
            host: host.into(),
            requests: 1,
            successes: 1,
            success_rate: Some(100.0),
            p99_ms: None,
        };
        let check = Check {
            n: 1,
            weight: 10,
            stable: figures("a"),
            canary: figures("b"),
            verdict: Verdict::Pass,
            reason: "ok".into(),
            failed_checks: 0,
        };
        let status = CanaryStatus {
            phase: Phase::Progressing,
            spec: CanarySpec::default(),
            stable: "a".into(),
            canary: "b".into(),
            weight: 10,
            failed_checks: 0,
            last: None,
            message: "m".into(),
            traces: None,
        };
        let route = RouteRef::new("vs", "r");
        let events = [
            MeshEvent::ConfigApplied { routes: vec![] },
            MeshEvent::EditRejected { error: "e".into() },
            MeshEvent::ScenarioSwitched {
                scenario: Some("/s.yaml".into()),
            },
            MeshEvent::ServiceExited {
                service: "s".into(),
                status: "1".into(),
            },
            MeshEvent::ServiceRestarted {
                service: "s".into(),
                pid: 1,
                port: 2,
            },
            MeshEvent::ChaosChanged {
                service: "s".into(),
                setting: None,
                instance: None,
            },
            MeshEvent::WeightsOverridden {
                route,
                weights: Some(Weights::split("a", "b", 10).expect("w")),
            },
            MeshEvent::CanaryCheck(Box::new(check)),
            MeshEvent::CanaryPhase(Box::new(status)),
            MeshEvent::Load(LoadStatus::default()),
        ];
        for e in &events {
            let line = serde_json::to_value(event(e)).expect("json");
            assert_eq!(line["event"], e.kind(), "{line}");
        }
        let line = serde_json::to_value(event(&events[6])).expect("json");
        assert_eq!(
            line,
            serde_json::json!({"event": "weights-overridden", "virtualService": "vs",
                "route": "r", "weights": {"a": 90, "b": 10}})
        );
        let line = serde_json::to_value(event(&events[2])).expect("json");
        assert_eq!(line["scenario"], "/s.yaml");
    }
}
