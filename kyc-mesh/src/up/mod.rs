//! `kyc-mesh up`: start the services of the topology and their Envoys from networking/
//! ([`start`]), run them — reloads, requests, restarts ([`run`]) — and stop everything
//! cleanly on Ctrl-C or SIGTERM, or when an Envoy dies.
//!
//! By idea: [`config`] (the configuration generations), [`reconfigure`] (an edit, a weight
//! override, a scenario switch applied to every Envoy), [`fleet`] (the service instances),
//! [`proxies`] and [`envoys`] (the Envoys), [`scale`], [`rollout`], [`chaos`] (acting on
//! instances), [`canary`] (the canary and load generator), [`control`] (which request goes
//! where), [`watch`] (what makes a reload), [`layout`] (ports), [`traces`] (the OTLP receiver),
//! [`report`] and [`banner`].

mod ambient;
mod ambient_layout;
mod ambient_plan;
mod banner;
mod canary;
mod chaos;
mod config;
mod control;
mod envoys;
mod error;
mod fleet;
mod layout;
mod mesh;
mod options;
mod ports;
mod probe;
mod proxies;
mod reconfigure;
mod report;
mod rollout;
mod run;
mod scale;
mod start;
mod traces;
mod watch;
mod waypoints;

pub(crate) use error::{Stopped, UpError};
pub(crate) use options::{Dataplane, UpOptions};
pub(crate) use reconfigure::dataplane_change;

use tokio::signal::unix::{signal, SignalKind};

/// Run the mesh until Ctrl-C/SIGTERM ([`Stopped::Asked`]) or an Envoy's death. A `use` that
/// moves workloads between the sidecar and the ambient data plane stops every child and starts
/// again ([`Stopped::Restart`]) with the scenario of the state file, on the same ports.
pub(crate) async fn up(o: UpOptions) -> Result<Stopped, UpError> {
    // Ctrl-C / SIGTERM at any moment (also during start-up) stops everything cleanly.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut o = o;
    loop {
        let mut p = start::prepare(o).await?;
        let result = tokio::select! {
            r = async {
                let spawned = start::spawn(&mut p).await?;
                run::run(&mut p, spawned).await
            } => r,
            _ = sigint.recv() => { println!("\nkyc-mesh: Ctrl-C, stopping"); Ok(Stopped::Asked) }
            _ = sigterm.recv() => { println!("kyc-mesh: SIGTERM, stopping"); Ok(Stopped::Asked) }
        };
        start::stop(&mut p).await;
        if let Ok(Stopped::Restart) = result {
            // The ports as they were bound (a dashboard on port 0 keeps the one it got); the
            // data plane is the scenario's (`--dataplane` no longer applies).
            let mut next = p.o.clone();
            next.scenario = crate::scenario::read_state(&next.state_dir);
            next.dataplane = None;
            drop(p);
            wait_released(&next).await;
            println!("kyc-mesh: every child process has exited; starting again");
            o = next;
            continue;
        }
        if let Ok(Stopped::Asked) = result {
            println!("kyc-mesh: stopped; every child process has exited");
        }
        return result;
    }
}

/// Wait (bounded) until the ports `up` itself listened on (the dashboard, the OTLP receiver)
/// can be bound again: their tasks were aborted, which takes effect at their next poll.
async fn wait_released(o: &UpOptions) {
    let mut ports: Vec<u16> = o.dashboard_port.into_iter().collect();
    if let Some(t) = &o.traces {
        ports.extend([t.http_port, t.grpc_port]);
    }
    ports.retain(|p| *p != 0);
    let deadline = std::time::Duration::from_secs(5);
    let tick = std::time::Duration::from_millis(20);
    let free = crate::apply::admin::poll(deadline, tick, || async {
        for port in &ports {
            tokio::net::TcpListener::bind(("127.0.0.1", *port))
                .await
                .ok()?;
        }
        Some(())
    })
    .await;
    if free.is_none() {
        eprintln!("kyc-mesh: a port of the last run is still taken after {deadline:?}: {ports:?}");
    }
}
