//! `check`, `render` and `use`: short commands over one configuration generation.

use std::time::Duration;

use crate::analyze::Severity;
use crate::apply::admin::CDS_STAT;
use crate::apply::{Admin, Outcome};
use crate::scenario;
use crate::snapshot::Sources;
use crate::topology::{SidecarPlan, BINARIES};

use super::error::{CliError, Exit};
use super::{Common, Format};

/// `--service-env SERVICE:KEY=VALUE`, SERVICE one of the topology's binaries.
pub(super) fn parse_service_env(
    items: &[String],
) -> Result<Vec<(String, String, String)>, CliError> {
    items
        .iter()
        .map(|item| {
            let expected = || {
                CliError::Usage(format!(
                    "--service-env {item:?}: expected SERVICE:KEY=VALUE"
                ))
            };
            let (service, kv) = item.split_once(':').ok_or_else(expected)?;
            let (k, v) = kv.split_once('=').ok_or_else(expected)?;
            if !BINARIES.contains(&service) {
                return Err(CliError::Usage(format!(
                    "--service-env {item:?}: unknown service (one of {})",
                    BINARIES.join(", ")
                )));
            }
            Ok((service.to_string(), k.to_string(), v.to_string()))
        })
        .collect()
}

/// Like `istioctl analyze`: every finding, errors first; exit 1 unless only infos.
pub(super) fn check(c: &Common) -> Result<Exit, CliError> {
    let snapshot = match Sources::new(&c.networking).snapshot(c.scenario.as_deref(), c.ports()) {
        Ok(s) => s,
        Err(rejected) => {
            let lines = rejected.lines();
            for l in &lines {
                println!("{l}");
            }
            println!("{} finding(s)", lines.len());
            return Ok(Exit::Failure);
        }
    };
    let mut findings = snapshot.findings();
    findings.sort_by_key(|f| f.severity);
    let counted = findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .count();
    for f in &findings {
        println!("{f}");
    }
    if counted > 0 {
        println!("{counted} finding(s)");
        return Ok(Exit::Failure);
    }
    println!(
        "✔ No validation issues found in {} ({} objects{})",
        c.networking.display(),
        snapshot.objects.len(),
        c.scenario
            .as_ref()
            .map(|s| format!(", scenario {}", s.display()))
            .unwrap_or_default()
    );
    Ok(Exit::Success)
}

/// The ingress gateway's configuration as a runnable static bootstrap.
pub(super) fn render(c: &Common, format: Format) -> Result<Exit, CliError> {
    let accepted = Sources::new(&c.networking)
        .snapshot(c.scenario.as_deref(), c.ports())
        .and_then(|s| s.translate(&SidecarPlan::default()))
        .map_err(CliError::NotTranslated)?;
    let boot = accepted.ingress.static_bootstrap(c.admin_port);
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&boot)?),
        Format::Yaml => print!("{}", serde_norway::to_string(&boot)?),
    }
    Ok(Exit::Success)
}

/// Switch the scenario of a running `up` and wait until its Envoy applied it.
pub(super) async fn use_scenario(c: &Common, name: &str) -> Result<Exit, CliError> {
    let path =
        scenario::resolve(&c.networking, name).map_err(|e| CliError::Usage(e.to_string()))?;
    // Read once; valid for the mesh with its sidecars, and translated for the gateway.
    let sources = Sources::new(&c.networking);
    let next = sources
        .snapshot(path.as_deref(), c.ports())
        .map_err(CliError::NotSwitched)?;
    let accepted = next
        .validate()
        .and_then(|()| next.translate(&SidecarPlan::default()))
        .map_err(CliError::NotSwitched)?;
    let admin = Admin::new(c.admin_port);
    let rds = accepted
        .ingress
        .main_listener()
        .map(|l| l.listener.rds_stat())
        .unwrap_or_default();
    let subscriptions = [rds.as_str(), CDS_STAT];
    let before = admin.snapshot(&subscriptions).await.ok();
    // A scenario that moves workloads between the sidecar and the ambient data plane restarts
    // every instance of the running mesh (as pods restart for it in the cluster): `up` stops
    // its children and starts again, which takes longer than a reload.
    let shown = scenario::shown(path.as_deref());
    let mut deadline = Duration::from_secs(20);
    if let (Some(_), Some(status)) = (&before, crate::status::read(&c.state_dir())) {
        let running = status
            .ambient
            .iter()
            .flat_map(|a| a.workloads.iter().map(String::as_str))
            .collect();
        if crate::up::dataplane_change(&running, &next, &shown).is_some() {
            if status.ca.is_none() {
                return Err(CliError::Refused {
                    what: "use".into(),
                    message: format!("{shown} moves workloads between the sidecar and the ambient data plane, and this mesh runs without sidecars (--no-sidecars or --external-services): stop it and run `kyc-mesh up --dataplane ambient`"),
                });
            }
            println!("kyc-mesh: {shown} moves workloads between the sidecar and the ambient data plane: the mesh restarts every instance in it, as pods restart for it in the cluster");
            deadline = Duration::from_secs(120);
        }
    }
    scenario::write_state(&c.state_dir(), path.as_deref())?;
    let Some(before) = before else {
        println!(
            "kyc-mesh: scenario set to {shown}; no mesh answers on admin port {} (it applies when `up` runs)",
            c.admin_port
        );
        return Ok(Exit::Success);
    };
    // `up` writes the applied scenario once every proxy took it. The gateway's routes or
    // clusters moving is not enough (its clusters move before its routes, and the sidecars
    // apply first): it only tells a rejection early.
    let tick = Duration::from_millis(25);
    let state = c.state_dir();
    let applied = crate::apply::admin::poll(deadline, tick, || async {
        (scenario::read_applied(&state) == Some(path.clone())).then_some(Outcome::Applied)
    });
    let rejected = async {
        match admin
            .wait_moved(&subscriptions, &before, deadline, tick)
            .await
        {
            o @ Outcome::Rejected(_) => o,
            _ => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        o = applied => o.unwrap_or(Outcome::TimedOut),
        o = rejected => o,
    };
    match outcome {
        Outcome::Applied => println!("kyc-mesh: the running mesh now uses scenario {shown}"),
        Outcome::Rejected(_) => {
            println!("kyc-mesh: Envoy rejected scenario {shown}; see the `up` output");
            return Ok(Exit::Failure);
        }
        Outcome::TimedOut => println!("kyc-mesh: scenario set to {shown} (no routing change to apply, or `up` runs with another --state-dir)"),
    }
    Ok(Exit::Success)
}
