//! The requests (`ops::Op`), answered in `up`'s loop in order with reloads and restarts: each
//! goes to the module of its idea — instances (`rollout`, `chaos`), configuration
//! (`reconfigure`), the canary and load generator (`canary`).

use crate::canary::run::Command;
use crate::ops::{Op, Outcome, Refusal};

use super::mesh::Mesh;
use super::{chaos, reconfigure, rollout};

pub(super) async fn handle(mesh: &mut Mesh<'_>, op: Op) -> Outcome {
    let done = |mesh: &Mesh<'_>, r: Result<String, Outcome>| match r {
        Ok(message) => mesh.answer(message),
        Err(outcome) => outcome,
    };
    match op {
        Op::RolloutRestart { service } => {
            let ambient = mesh.live_ambient.as_mut();
            rollout::restart(mesh.fleet, mesh.proxies, ambient, &service).await
        }
        Op::SetWeights { route, weights } => reconfigure::set_weights(mesh, &route, weights).await,
        Op::Chaos {
            service,
            instance,
            setting,
        } => chaos::set(mesh.fleet, &service, instance.as_deref(), setting).await,
        Op::State => mesh.answer("mesh state".into()),
        Op::Use { scenario } => reconfigure::use_scenario(mesh, scenario).await,
        Op::CanaryStart(spec) => {
            let route = mesh.config.current().weighted_route(&spec.route()).cloned();
            let ambient = mesh.live_ambient.as_ref();
            let started = mesh
                .canary
                .start(spec, route.as_ref(), mesh.proxies, ambient);
            done(mesh, started)
        }
        Op::CanaryPromote => {
            let sent = mesh.canary.command(Command::Promote);
            done(mesh, sent)
        }
        Op::CanaryAbort => {
            let sent = mesh.canary.command(Command::Abort);
            done(mesh, sent)
        }
        Op::CanaryStatus => match mesh.canary.status() {
            Some(s) => mesh.answer(format!("canary {:?}", s.phase)),
            None => Outcome::refused(Refusal::Conflict, "no canary has run in this mesh"),
        },
        Op::Load { rps } => {
            let r = mesh.canary.load(rps);
            done(mesh, r)
        }
    }
}
