//! The local `kyc-mesh canary`: subscribe to the running `up`, start the canary there, print
//! each check and the outcome, abort on Ctrl-C, then the summary, the YAML to commit, the
//! reports (`--report-json`, `--report-html`) and `--write`.

use std::time::Duration;

use crate::canary::model::{CanarySpec, CanaryStatus, Check, Phase};
use crate::canary::yaml;
use crate::control::client::{call, subscribe, Subscription};
use crate::control::event::Event;
use crate::control::protocol::{Request, Response};
use crate::control::state::MeshState;
use crate::control::wire;
use crate::weights::RouteKind;

use super::canary_args::CanaryRunArgs;
use super::canary_print::{line, summary, write_reports, Spinner};
use super::error::{CliError, Exit};
use super::Common;
use crate::canary::report::{Report, Yaml};

const ANSWER: Duration = Duration::from_secs(30);

pub(super) async fn run(
    c: &Common,
    a: &CanaryRunArgs,
    mut spec: CanarySpec,
) -> Result<Exit, CliError> {
    let dir = c.state_dir();
    if a.route_defaulted() {
        if let Some(vs) = waypoint_route(c, &spec.route).await? {
            println!("kyc-mesh: the waypoint splits the scorers' calls here (ambient mode): the canary runs on HTTPRoute {vs}, rule {} (--virtual-service picks a VirtualService's route)", spec.route);
            spec.virtual_service = vs;
        }
    }
    // Subscribed before starting: no check is missed.
    let mut events = subscribe(&dir).await?;
    match call(&dir, Request::CanaryStart(spec.clone()), ANSWER).await? {
        Response::Done { message, .. } => println!("kyc-mesh: {message}"),
        Response::Refused { message, .. } => {
            return Err(CliError::Refused {
                what: "canary".into(),
                message,
            })
        }
        Response::Failed { message } => {
            return Err(CliError::Unfinished(format!(
                "canary failed to start: {message}"
            )))
        }
    }
    let Some((outcome, checks)) = follow(c, &spec, &mut events).await? else {
        return Err(CliError::Unfinished(
            "the mesh stopped before the canary ended".into(),
        ));
    };
    finish(c, a, &spec, &outcome, &checks).await
}

/// The HTTPRoute with a rule named `rule` that a waypoint applies (an HTTPRoute whose parent
/// is a Service) in the running mesh, if there is exactly one: in ambient mode the scorers'
/// calls are split there, not by the gateway's VirtualService.
async fn waypoint_route(c: &Common, rule: &str) -> Result<Option<String>, CliError> {
    let answer = call(&c.state_dir(), Request::State, ANSWER).await?;
    let Response::Done {
        state: Some(state), ..
    } = answer
    else {
        return Ok(None);
    };
    let found: Vec<String> = state
        .routes
        .iter()
        .filter(|r| r.route == rule && r.destinations.len() == 2)
        .filter(|r| {
            r.http_route
                .as_ref()
                .is_some_and(|p| !p.services.is_empty())
        })
        .map(|r| r.virtual_service.clone())
        .collect();
    Ok(match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// Print every check until the canary ends; Ctrl-C aborts it (and waits for the rollback).
async fn follow(
    c: &Common,
    spec: &CanarySpec,
    events: &mut Subscription,
) -> Result<Option<(CanaryStatus, Vec<Check>)>, CliError> {
    let mut spinner = Spinner::new();
    let mut tick = tokio::time::interval(Duration::from_millis(150));
    let mut checks = Vec::new();
    let mut weight = 0;
    let mut aborting = false;
    loop {
        tokio::select! {
            e = events.next() => match e? {
                None => return Ok(None),
                Some(Event::CanaryCheck { check }) => {
                    spinner.println(&line(&check, spec.threshold));
                    checks.push(*check);
                }
                Some(Event::CanaryPhase { status }) => {
                    weight = status.weight;
                    if status.phase.is_final() {
                        return Ok(Some((*status, checks)));
                    }
                    if status.phase == Phase::Paused {
                        spinner.println(&format!("kyc-mesh: {}", status.message));
                    }
                }
                Some(_) => {}
            },
            _ = tokio::signal::ctrl_c(), if !aborting => {
                aborting = true;
                spinner.println("kyc-mesh: Ctrl-C: aborting the canary (rolling back)");
                // The answer says the abort was handed over; the rollback comes as an event.
                let _ = call(&c.state_dir(), Request::CanaryAbort, ANSWER).await;
            }
            _ = tick.tick(), if spinner.enabled() => {
                spinner.tick(&format!("canary at {weight}%: measuring (every {} ms)", spec.interval_ms));
            }
        }
    }
}

async fn state(c: &Common) -> Option<MeshState> {
    match call(&c.state_dir(), Request::State, ANSWER).await {
        Ok(Response::Done { state, .. }) => state.map(|s| *s),
        _ => None,
    }
}

async fn finish(
    c: &Common,
    a: &CanaryRunArgs,
    spec: &CanarySpec,
    outcome: &CanaryStatus,
    checks: &[Check],
) -> Result<Exit, CliError> {
    let mesh = state(c).await;
    let load = mesh.as_ref().map(|m| m.load);
    for l in summary(outcome, checks.len(), load.as_ref()) {
        println!("{l}");
    }
    let route = mesh.as_ref().and_then(|m| {
        m.routes
            .iter()
            .find(|r| r.virtual_service == spec.virtual_service && r.route == spec.route)
            .map(wire::route_of)
    });
    if a.report.is_some() || a.report_html.is_some() {
        let report = Report {
            spec: spec.clone(),
            checks: checks.to_vec(),
            outcome: outcome.clone(),
            load,
            yaml: route.as_ref().map(|r| Yaml {
                file: Some(route_file(c, r)),
                text: yaml::snippet(r),
            }),
            generated_ms: crate::traces::now_ms(),
        };
        write_reports(a.report.as_deref(), a.report_html.as_deref(), &report);
    }
    if let Some(route) = route {
        let file = route_file(c, &route);
        if a.write && matches!(route.kind, RouteKind::HttpRoute { .. }) {
            let e = yaml::YamlError::HttpRoute(route.route.virtual_service.clone());
            eprintln!("kyc-mesh: --write refused: {e}");
            print!("{}", yaml::snippet(&route));
        } else if a.write {
            let weights: Vec<u32> = route.destinations.iter().map(|d| d.weight).collect();
            match yaml::write(&c.networking, &route.route, &weights) {
                Ok(f) => {
                    println!("  written to {} (the runtime override is cleared: the file now says the same)", f.display());
                    let clear = Request::SetWeights {
                        virtual_service: spec.virtual_service.clone(),
                        route: spec.route.clone(),
                        weights: None,
                    };
                    let _ = call(&c.state_dir(), clear, ANSWER).await;
                }
                Err(e) => eprintln!("kyc-mesh: --write refused: {e}"),
            }
        } else if matches!(route.kind, RouteKind::HttpRoute { .. }) {
            println!("  the live weights are a runtime override; to keep them, set these weights in {file}:");
            print!("{}", yaml::snippet(&route));
        } else {
            println!("  the live weights are a runtime override; to keep them, commit this in {file} (or rerun with --write):");
            print!("{}", yaml::snippet(&route));
        }
    }
    Ok(Exit::of(outcome.phase == Phase::Promoted))
}

/// The file that holds `route`, for the user: an HTTPRoute's is the scenario the running mesh
/// uses (the waypoint's, networking/scenarios/ambient.yaml), a VirtualService's is in
/// networking/.
fn route_file(c: &Common, route: &crate::weights::WeightedRoute) -> String {
    match route.kind {
        RouteKind::HttpRoute { .. } => crate::status::read(&c.state_dir())
            .and_then(|s| s.scenario)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| c.networking.display().to_string()),
        RouteKind::VirtualService => vs_file(c, &route.route.virtual_service),
    }
}

/// The file of networking/ that holds VirtualService `vs`, for the user.
fn vs_file(c: &Common, vs: &str) -> String {
    yaml::files_of(&c.networking, vs)
        .ok()
        .and_then(|files| files.first().map(|f| f.display().to_string()))
        .unwrap_or_else(|| c.networking.display().to_string())
}
