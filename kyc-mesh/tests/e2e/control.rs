//! The control socket's requests against real services behind a real Envoy: `set-weights`
//! (validated, applied, surviving `kyc-mesh use`, cleared), `kyc-mesh chaos` (effective at
//! once, restored on a rolled-out instance, off again), `state`, and the `subscribe` events.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use kyc_mesh::control::client::{call, subscribe, Subscription};
use kyc_mesh::control::event::Event;
use kyc_mesh::control::protocol::{Refusal, Request, Response};
use kyc_mesh::control::state::MeshState;

use crate::helpers::http::{client, count, get, tally};
use crate::helpers::mesh::{cli, Mesh};
use crate::helpers::{kyc_mesh, poll_async, repo_networking, ADVANCED, BASIC};
use crate::services::start_with;

const WAIT: Duration = Duration::from_secs(60);

fn weights(pairs: &[(&str, serde_json::Value)]) -> Option<BTreeMap<String, serde_json::Number>> {
    Some(
        pairs
            .iter()
            .map(|(h, v)| {
                let n = serde_json::from_value(v.clone()).expect("number");
                (h.to_string(), n)
            })
            .collect(),
    )
}

fn set(w: Option<BTreeMap<String, serde_json::Number>>, route: &str) -> Request {
    Request::SetWeights {
        virtual_service: "kyc-credit-check".into(),
        route: route.into(),
        weights: w,
    }
}

async fn ask(mesh: &Mesh, r: Request) -> Response {
    call(mesh.state_dir.path(), r, WAIT).await.expect("answer")
}

async fn state(mesh: &Mesh) -> MeshState {
    match ask(mesh, Request::State).await {
        Response::Done { state: Some(s), .. } => *s,
        other => panic!("state: {other:?}"),
    }
}

/// The next event `want` accepts, within a deadline (others are skipped).
async fn expect_event(sub: &mut Subscription, what: &str, want: impl Fn(&Event) -> bool) -> Event {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = sub.next().await.expect("event") {
            if want(&e) {
                return Some(e);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => e,
        _ => panic!("no {what} event"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_weights_is_validated_applied_survives_use_and_clears() {
    let envoy = require_envoy!();
    let mesh = start_with(envoy, repo_networking(), vec![], vec![]).await;
    let mut sub = subscribe(mesh.state_dir.path()).await.expect("subscribe");
    let route = "credit-check-report";
    // Refusals name the field; nothing changes.
    for (w, r, field) in [
        (
            weights(&[(BASIC, 90.into()), (ADVANCED, 20.into())]),
            route,
            "weights",
        ),
        (
            weights(&[(BASIC, 90.into()), ("nope", 10.into())]),
            route,
            "weights.nope",
        ),
        (
            weights(&[(BASIC, 100.into())]),
            route,
            &format!("weights.{ADVANCED}"),
        ),
        (
            weights(&[(BASIC, serde_json::json!(90.5)), (ADVANCED, 10.into())]),
            route,
            &format!("weights.{BASIC}"),
        ),
        (
            weights(&[(BASIC, 100.into()), (ADVANCED, 0.into())]),
            "nope",
            "route",
        ),
        (
            weights(&[(BASIC, 100.into())]),
            "credit-check-basic",
            "route",
        ),
    ] {
        match ask(&mesh, set(w, r)).await {
            Response::Refused {
                reason: Refusal::BadRequest,
                message,
            } => assert!(message.starts_with(field), "{field}: {message}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    let unknown_vs = Request::SetWeights {
        virtual_service: "nope".into(),
        route: route.into(),
        weights: weights(&[(BASIC, 100.into())]),
    };
    assert!(matches!(ask(&mesh, unknown_vs).await,
        Response::Refused { message, .. } if message.starts_with("virtualService")));
    // 0/100: only the advanced scorer answers, as the events and the state say.
    let w = weights(&[(BASIC, 0.into()), (ADVANCED, 100.into())]);
    assert!(matches!(
        ask(&mesh, set(w, route)).await,
        Response::Done { .. }
    ));
    expect_event(&mut sub, "weights-overridden", |e| {
        matches!(e, Event::WeightsOverridden { weights: Some(w), .. } if w.get(ADVANCED) == Some(&100))
    })
    .await;
    expect_event(&mut sub, "config-applied", |e| {
        matches!(e, Event::ConfigApplied { .. })
    })
    .await;
    let c = client();
    let url = mesh.url("/kyc/v1/customer");
    let m = tally(&c, &url, 30, &[]).await;
    assert_eq!(count(&m, ADVANCED), 30, "{m:?}");
    let s = state(&mesh).await;
    let r = s.routes.iter().find(|r| r.route == route).expect("route");
    assert!(r.overridden, "{r:?}");
    assert_eq!(
        r.destinations.iter().map(|d| d.weight).collect::<Vec<_>>(),
        [0, 100]
    );
    // A scenario switch keeps the override (the scenario sets 90/10 on the same route).
    let out = cli(&mesh, &["use", "canary-90-10"]).await;
    assert!(out.status.success(), "{out:?}");
    expect_event(&mut sub, "scenario-switched", |e| {
        matches!(e, Event::ScenarioSwitched { .. })
    })
    .await;
    let m = tally(&c, &url, 30, &[]).await;
    assert_eq!(count(&m, ADVANCED), 30, "override survives `use`: {m:?}");
    let saved = std::fs::read_to_string(mesh.state_dir.path().join("weights.json")).expect("file");
    assert!(saved.contains(ADVANCED), "{saved}");
    // Cleared: the scenario's 90/10 applies again.
    assert!(matches!(
        ask(&mesh, set(None, route)).await,
        Response::Done { .. }
    ));
    let s = state(&mesh).await;
    let r = s.routes.iter().find(|r| r.route == route).expect("route");
    assert!(!r.overridden);
    assert_eq!(
        r.destinations.iter().map(|d| d.weight).collect::<Vec<_>>(),
        [90, 10]
    );
    let m = tally(&c, &url, 40, &[]).await;
    assert!(count(&m, BASIC) > 20, "{m:?}");
    // The load generator: refused above its cap, started, counted, stopped.
    assert!(matches!(
        ask(&mesh, Request::Load { rps: 5000 }).await,
        Response::Refused { reason: Refusal::BadRequest, message } if message.starts_with("rps")
    ));
    assert!(matches!(
        ask(&mesh, Request::Load { rps: 20 }).await,
        Response::Done { .. }
    ));
    expect_event(
        &mut sub,
        "load",
        |e| matches!(e, Event::Load { load } if load.ok > 0),
    )
    .await;
    assert!(matches!(
        ask(&mesh, Request::Load { rps: 0 }).await,
        Response::Done { .. }
    ));
    let load = state(&mesh).await.load;
    assert_eq!(load.rps, 0);
    assert!(load.ok > 0 && load.failed == 0, "{load:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_applies_at_once_follows_a_rollout_and_turns_off() {
    let envoy = require_envoy!();
    let mesh = start_with(envoy, repo_networking(), vec![], vec![]).await;
    let mut sub = subscribe(mesh.state_dir.path()).await.expect("subscribe");
    let c = client();
    let advanced = mesh.url("/credit-check/advanced?demo=alice");
    assert_eq!(get(&c, &advanced, &[]).await.status, 200);
    // Usage errors: exit 2, naming the known services or the bad value.
    let out = cli(&mesh, &["chaos", "kyc-nope", "--error-rate", "0.5"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(ADVANCED),
        "{out:?}"
    );
    let out = cli(&mesh, &["chaos", ADVANCED, "--error-rate", "1.5"]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = cli(&mesh, &["chaos", ADVANCED]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // Every attempt fails: even the route's three retries cannot hide it.
    let out = cli(&mesh, &["chaos", ADVANCED, "--error-rate", "1"]).await;
    assert!(out.status.success(), "{out:?}");
    expect_event(
        &mut sub,
        "chaos-changed",
        |e| matches!(e, Event::ChaosChanged { setting: Some(s), .. } if s.error_rate == 1.0),
    )
    .await;
    assert_eq!(get(&c, &advanced, &[]).await.status, 503);
    assert_eq!(
        state(&mesh).await.chaos.get(ADVANCED).map(|s| s.error_rate),
        Some(1.0)
    );
    // A rolled-out instance gets it before it serves.
    let out = cli(&mesh, &["rollout", "restart", ADVANCED]).await;
    assert!(out.status.success(), "{out:?}");
    expect_event(&mut sub, "service-restarted", |e| {
        matches!(e, Event::ServiceRestarted { .. })
    })
    .await;
    assert_eq!(get(&c, &advanced, &[]).await.status, 503);
    // Off: served again at once.
    let out = cli(&mesh, &["chaos", ADVANCED, "--off"]).await;
    assert!(out.status.success(), "{out:?}");
    poll_async("advanced served again", Duration::from_secs(10), || {
        let (c, u) = (c.clone(), advanced.clone());
        async move { (get(&c, &u, &[]).await.status == 200).then_some(()) }
    })
    .await;
    assert!(state(&mesh).await.chaos.is_empty());
    // The delay: the delayed answer takes at least that long (a lower bound only).
    let out = cli(&mesh, &["chaos", BASIC, "--delay", "300ms"]).await;
    assert!(out.status.success(), "{out:?}");
    let started = std::time::Instant::now();
    assert_eq!(
        get(&c, &mesh.url("/credit-check/basic?demo=alice"), &[])
            .await
            .status,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn without_a_mesh_chaos_and_canary_exit_2_saying_so() {
    for args in [
        &["chaos", ADVANCED, "--error-rate", "0.3"][..],
        &["canary", "--interval", "1s"][..],
        &["canary", "status"][..],
        &["canary", "promote"][..],
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(kyc_mesh())
                .arg("--state-dir")
                .arg(dir.path())
                .args(&args)
                .output()
                .expect("kyc-mesh")
        })
        .await
        .expect("join");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no kyc-mesh up is running"),
            "{out:?}"
        );
    }
}

#[tokio::test]
async fn canary_usage_errors_exit_2_naming_the_flag() {
    for (args, needle) in [
        (&["canary", "--step-weight", "0"][..], "--step-weight"),
        (&["canary", "--interval", "ten"][..], "--interval"),
        (&["canary", "--interval", "50ms"][..], "interval"),
        (
            &["canary", "--min-success-rate", "120"][..],
            "minSuccessRate",
        ),
        (&["canary", "--cluster"][..], "--prometheus-url"),
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(kyc_mesh())
                .args(&args)
                .output()
                .expect("kyc-mesh")
        })
        .await
        .expect("join");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{needle}: {out:?}"
        );
    }
}
