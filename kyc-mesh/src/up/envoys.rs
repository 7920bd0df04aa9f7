//! Starting the mesh's Envoys: one sidecar per instance of each injected workload (as
//! `holdApplicationUntilProxyStarts`: ready before traffic), then the ingress gateway, each
//! on its own xDS directory and admin port, each confirmed listening before the next; and
//! one more sidecar when an instance is added while the mesh runs (`super::scale`).

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::mpsc;

use crate::apply::admin::{poll, LDS_STAT};
use crate::apply::endpoints::Placement;
use crate::apply::{Admin, XdsDir};
use crate::snapshot::Accepted;
use crate::supervise::{self, Exit, Proc};
use crate::translate::{ProxyConfig, ProxyId};

use super::error::UpError;
use super::fleet::{Fleet, Slot};
use super::options::UpOptions;
use super::proxies::{placed, Proxies, Proxy};

type Result<T> = std::result::Result<T, UpError>;

/// Start every sidecar (each owned by its instance's slot: it stops with the instance),
/// then the gateway (into `procs`), with the instances of `fleet`.
pub(super) async fn start_all(
    o: &UpOptions,
    xds_dir: PathBuf,
    accepted: &Accepted,
    fleet: &mut Fleet,
    procs: &mut Vec<Proc>,
    exits: &mpsc::UnboundedSender<Exit>,
) -> Result<Proxies> {
    let at = fleet.serving();
    let mut mesh = Proxies {
        all: Vec::new(),
        gateway_limits: o.gateway_limits,
        xds_dir,
    };
    for slot in &mut fleet.slots {
        let Some(config) = accepted.sidecars.get(slot.workload.name) else {
            continue;
        };
        let (proxy, proc) = start_sidecar(o, &mesh, slot, config, &at, exits).await?;
        slot.sidecar = Some(proc);
        mesh.all.push(proxy);
    }
    let xds = XdsDir::create(
        &mesh.xds_dir.join("gateway"),
        &placed(&accepted.ingress, None, &at),
        o.ports.admin,
        &o.telemetry,
    )?;
    let admin = Admin::new(o.ports.admin);
    let what = format!("the gateway listener on 127.0.0.1:{}", o.ports.gateway);
    let proc = launch(o, "envoy", &what, &xds, &admin, exits).await?;
    mesh.all.push(Proxy {
        id: ProxyId::IngressGateway,
        pod: None,
        xds,
        admin,
        proc_id: proc.id,
        config: accepted.ingress.clone(),
    });
    procs.push(proc);
    Ok(mesh)
}

/// The sidecar of `slot`'s instance, programmed with `config` (its workload's) and the
/// instances of `at`; Err when it cannot start (a port taken, a rejected configuration).
pub(super) async fn start_sidecar(
    o: &UpOptions,
    mesh: &Proxies,
    slot: &Slot,
    config: &ProxyConfig,
    at: &Placement,
    exits: &mpsc::UnboundedSender<Exit>,
) -> Result<(Proxy, Proc)> {
    let pod = &slot.pod;
    let Some(sidecar) = pod.sidecar else {
        return Err(UpError::NoSidecarPorts(pod.name.clone()));
    };
    // Instance 0's directory keeps the workload's name, as before replicas (`bench/lib.sh`
    // finds a workload's sidecar by `/<workload>/bootstrap.json`).
    let dir = match pod.index {
        0 => pod.workload.to_string(),
        _ => pod.name.clone(),
    };
    let xds = XdsDir::create(
        &mesh.xds_dir.join(dir),
        &placed(config, Some(pod), at),
        sidecar.admin,
        &o.telemetry,
    )?;
    let admin = Admin::new(sidecar.admin);
    let what = format!(
        "the sidecar of {} (inbound 127.0.0.1:{})",
        pod.name, sidecar.inbound
    );
    let proc = launch(
        o,
        &format!("{}/istio-proxy", pod.name),
        &what,
        &xds,
        &admin,
        exits,
    )
    .await?;
    let proxy = Proxy {
        id: ProxyId::Sidecar(pod.workload),
        pod: Some(pod.clone()),
        xds,
        admin,
        proc_id: proc.id,
        config: config.clone(),
    };
    Ok((proxy, proc))
}

/// How long a replaced listener drains (`--drain-time-s`): istio-agent's default
/// `drainDuration`.
const DRAIN_TIME_S: u32 = 45;

/// The command line of one of the mesh's Envoys (gateway, sidecar or waypoint) on
/// `bootstrap`, with `workers` worker threads (Envoy's default, one per core, when None).
/// As istio-agent starts Envoy: no hot restart, and a replaced listener's connections are
/// told to close at once (`--drain-strategy immediate`, at most [`DRAIN_TIME_S`]), so a
/// changed listener (new JWT keys, a new mTLS mode) serves every connection within one
/// request instead of Envoy's default of up to ten minutes of the old one.
pub(super) fn envoy_command(
    o: &UpOptions,
    bootstrap: &std::path::Path,
    workers: Option<u16>,
) -> Command {
    let mut cmd = Command::new(&o.envoy);
    cmd.arg("-c")
        .arg(bootstrap)
        .arg("--disable-hot-restart")
        .arg("--drain-strategy")
        .arg("immediate")
        .arg("--drain-time-s")
        .arg(DRAIN_TIME_S.to_string())
        .arg("--log-level")
        .arg(&o.envoy_log_level);
    if let Some(workers) = workers {
        cmd.arg("--concurrency").arg(workers.to_string());
    }
    cmd
}

/// Start one Envoy (`name` prefixes its log lines) on the bootstrap of `xds` and wait
/// until its listeners are open (`what` names them in the error).
async fn launch(
    o: &UpOptions,
    name: &str,
    what: &str,
    xds: &XdsDir,
    admin: &Admin,
    exits: &mpsc::UnboundedSender<Exit>,
) -> Result<Proc> {
    // A sidecar gets one worker unless told otherwise: on a laptop every sidecar shares
    // the same few cores with the services (Istio's default is 2 per sidecar).
    let sidecar_default = (name != "envoy").then_some(1);
    let cmd = envoy_command(
        o,
        &xds.bootstrap_path(),
        o.envoy_concurrency.or(sidecar_default),
    );
    // Dropped on an error below: `spawn` kills it on drop.
    let envoy = supervise::spawn(name, cmd, exits)?;
    let rejected = format!("{LDS_STAT}.update_rejected");
    let active = "listener_manager.total_listeners_active";
    let filter = format!(
        "^({}|{})$",
        rejected.replace('.', "\\."),
        active.replace('.', "\\.")
    );
    let listener = poll(o.ready_timeout, Duration::from_millis(50), || async {
        if let Some(status) = envoy.exited() {
            return Some(Err(UpError::EnvoyExited {
                name: name.to_string(),
                status,
            }));
        }
        if !admin.ready().await {
            return None;
        }
        // The listener must be up: a port that could not be bound is fatal.
        let stats = admin.stats(&filter).await.ok()?;
        let value = |name: &str| stats.get(name).copied().unwrap_or(0);
        if value(&rejected) > 0 || value(active) == 0 {
            return Some(Err(UpError::EnvoyPort(what.to_string())));
        }
        Some(Ok(()))
    })
    .await;
    match listener {
        Some(r) => r.map(|()| envoy),
        None => Err(UpError::EnvoyNotReady {
            name: name.to_string(),
            port: admin.port,
            timeout: o.ready_timeout,
        }),
    }
}
