//! `kyc-mesh canary --cluster --prometheus-url URL`: the same loop in this process, reading
//! Istio's metrics from Prometheus and moving the weights with `kubectl patch`. The route's
//! position in the VirtualService comes from networking/ (the YAML applied to the cluster);
//! the patch tests the route's name first, so a differing cluster is refused, not patched.

use tokio::sync::mpsc;

use crate::canary::kubectl::Kubectl;
use crate::canary::model::{CanarySpec, Phase};
use crate::canary::prometheus::PrometheusMetrics;
use crate::canary::run::{run as analyse, Command, Update};
use crate::registry::Registry;
use crate::snapshot::Sources;

use super::canary_args::CanaryRunArgs;
use super::canary_print::{line, summary, write_reports};
use super::error::{CliError, Exit};
use super::Common;
use crate::canary::report::Report;

pub(super) async fn run(c: &Common, a: &CanaryRunArgs, spec: CanarySpec) -> Result<Exit, CliError> {
    let usage = |m: &str| Err(CliError::Usage(m.to_string()));
    if a.load.is_some() || a.pause_at.is_some() || a.write {
        return usage("--load, --pause-at and --write are for the local mesh; on a cluster use Flagger's load tester or scripts/canary.sh");
    }
    let Some(url) = &a.prometheus_url else {
        return usage("--cluster needs --prometheus-url URL");
    };
    let files = Sources::new(&c.networking)
        .read(c.scenario.as_deref())
        .map_err(CliError::CannotRead)?;
    let found = Registry::new(&files.objects)
        .http_route(&spec.route())
        .ok()
        .map(|f| (f.index, f.route.route.clone()));
    let Some((index, destinations)) = found else {
        return Err(CliError::Usage(format!(
            "route: no http route {:?} in VirtualService {:?} of {}",
            spec.route,
            spec.virtual_service,
            c.networking.display()
        )));
    };
    let [stable, canary] = destinations.as_slice() else {
        return Err(CliError::Usage(format!(
            "route: {} destinations; the canary needs exactly two",
            destinations.len()
        )));
    };
    let (stable, canary) = (
        stable.destination.host.clone(),
        canary.destination.host.clone(),
    );
    let mut metrics = PrometheusMetrics::new(url, &a.namespace, &stable, &canary)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut actuator = Kubectl {
        program: a.kubectl.clone(),
        context: a.context.clone(),
        namespace: a.namespace.clone(),
        virtual_service: spec.virtual_service.clone(),
        route: spec.route.clone(),
        route_index: index,
        stable_index: 0,
        canary_index: 1,
    };
    println!(
        "kyc-mesh: canary on the cluster: {}/{} in namespace {}, stable {stable}, canary {canary}, figures from {url}",
        spec.virtual_service, spec.route, a.namespace
    );
    let (tx, mut rx) = mpsc::channel(1);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            println!("kyc-mesh: Ctrl-C: aborting the canary (rolling back)");
            let _ = tx.send(Command::Abort).await;
        }
    });
    let mut checks = Vec::new();
    let threshold = spec.threshold;
    let outcome = analyse(
        &spec,
        &stable,
        &canary,
        &mut metrics,
        &mut actuator,
        &mut rx,
        |u| {
            if let Update::Check(check) = u {
                println!("{}", line(&check, threshold));
                checks.push(check);
            }
        },
    )
    .await;
    for l in summary(&outcome, checks.len(), None) {
        println!("{l}");
    }
    if a.report.is_some() || a.report_html.is_some() {
        let report = Report {
            spec: spec.clone(),
            checks,
            outcome: outcome.clone(),
            load: None,
            yaml: None,
            generated_ms: crate::traces::now_ms(),
        };
        write_reports(a.report.as_deref(), a.report_html.as_deref(), &report);
    }
    Ok(Exit::of(outcome.phase == Phase::Promoted))
}
