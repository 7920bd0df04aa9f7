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

/// Run the mesh until Ctrl-C/SIGTERM ([`Stopped::Asked`]) or an Envoy's death.
pub(crate) async fn up(o: UpOptions) -> Result<Stopped, UpError> {
    let mut p = start::prepare(o).await?;
    // Ctrl-C / SIGTERM at any moment (also during start-up) stops everything cleanly.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let result = tokio::select! {
        r = async {
            let spawned = start::spawn(&mut p).await?;
            run::run(&mut p, spawned).await
        } => r,
        _ = sigint.recv() => { println!("\nkyc-mesh: Ctrl-C, stopping"); Ok(Stopped::Asked) }
        _ = sigterm.recv() => { println!("kyc-mesh: SIGTERM, stopping"); Ok(Stopped::Asked) }
    };
    start::stop(&mut p).await;
    if let Ok(Stopped::Asked) = result {
        println!("kyc-mesh: stopped; every child process has exited");
    }
    result
}
