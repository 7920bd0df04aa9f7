//! Starting the mesh's Envoys: one sidecar per instance of each injected workload (as
//! `holdApplicationUntilProxyStarts`: ready before traffic), then the ingress gateway, each
//! on its own xDS directory and admin port, each confirmed listening before the next.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::apply::admin::{poll, LDS_STAT};
use crate::apply::endpoints::Placement;
use crate::apply::{Admin, XdsDir};
use crate::pipeline::Accepted;
use crate::supervise::{self, Exit, Proc};
use crate::translate::ProxyId;

use super::layout::Layout;
use super::proxies::{placed, Proxies, Proxy};
use super::UpOptions;

pub(super) struct Start<'a> {
    pub o: &'a UpOptions,
    /// Each proxy's xDS directory goes inside (`<pod>/`, `gateway/`).
    pub xds_dir: &'a Path,
    pub procs: &'a mut Vec<Proc>,
    pub exits: &'a mpsc::UnboundedSender<Exit>,
}

impl Start<'_> {
    /// Every sidecar, then the gateway, with the instances of `at`.
    pub async fn all(
        mut self,
        accepted: &Accepted,
        layout: &Layout,
        at: &Placement,
    ) -> Result<Proxies> {
        let mut all = Vec::new();
        for (name, config) in &accepted.sidecars {
            for pod in layout.pods.get(name).into_iter().flatten() {
                let Some(sidecar) = pod.sidecar else {
                    continue;
                };
                let xds = XdsDir::create(
                    &self.xds_dir.join(&pod.name),
                    &placed(config, Some(pod), at),
                    sidecar.admin,
                    &self.o.telemetry,
                )?;
                let admin = Admin::new(sidecar.admin);
                let what = format!(
                    "the sidecar of {} (inbound 127.0.0.1:{})",
                    pod.name, sidecar.inbound
                );
                let log_name = format!("{}/istio-proxy", pod.name);
                let proc_id = self.envoy(&log_name, &what, &xds, &admin).await?;
                all.push(Proxy {
                    id: ProxyId::Sidecar(name),
                    pod: Some(pod.clone()),
                    xds,
                    admin,
                    proc_id,
                    config: config.clone(),
                });
            }
        }
        let o = self.o;
        let xds = XdsDir::create(
            &self.xds_dir.join("gateway"),
            &placed(&accepted.ingress, None, at),
            o.ports.admin,
            &o.telemetry,
        )?;
        let admin = Admin::new(o.ports.admin);
        let what = format!("the gateway listener on 127.0.0.1:{}", o.ports.gateway);
        let proc_id = self.envoy("envoy", &what, &xds, &admin).await?;
        all.push(Proxy {
            id: ProxyId::IngressGateway,
            pod: None,
            xds,
            admin,
            proc_id,
            config: accepted.ingress.clone(),
        });
        Ok(Proxies {
            all,
            gateway_limits: o.gateway_limits,
        })
    }

    /// Start one Envoy (`name` prefixes its log lines) on the bootstrap of `xds` and wait
    /// until its listeners are open (`what` names them in the error). Returns its [`Proc::id`].
    async fn envoy(
        &mut self,
        name: &str,
        what: &str,
        xds: &XdsDir,
        admin: &Admin,
    ) -> Result<usize> {
        let (o, procs, exits) = (self.o, &mut *self.procs, self.exits);
        let mut cmd = Command::new(&o.envoy);
        cmd.arg("-c")
            .arg(xds.bootstrap_path())
            .arg("--disable-hot-restart")
            .arg("--log-level")
            .arg(&o.envoy_log_level);
        // A sidecar gets one worker unless told otherwise: on a laptop every sidecar shares
        // the same few cores with the services (Istio's default is 2 per sidecar).
        let sidecar_default = (name != "envoy").then_some(1);
        if let Some(workers) = o.envoy_concurrency.or(sidecar_default) {
            cmd.arg("--concurrency").arg(workers.to_string());
        }
        procs.push(supervise::spawn(name, cmd, exits)?);
        let envoy = &procs[procs.len() - 1];
        let rejected = format!("{LDS_STAT}.update_rejected");
        let active = "listener_manager.total_listeners_active";
        let filter = format!(
            "^({}|{})$",
            rejected.replace('.', "\\."),
            active.replace('.', "\\.")
        );
        let listener = poll(o.ready_timeout, Duration::from_millis(50), || async {
            if let Some(status) = envoy.exited() {
                return Some(Err(anyhow::anyhow!(
                    "{name} exited during start-up ({status})"
                )));
            }
            if !admin.ready().await {
                return None;
            }
            // The listener must be up: a port that could not be bound is fatal.
            let stats = admin.stats(&filter).await.ok()?;
            let value = |name: &str| stats.get(name).copied().unwrap_or(0);
            if value(&rejected) > 0 || value(active) == 0 {
                return Some(Err(anyhow::anyhow!(
                    "Envoy could not open {what} (port in use?)"
                )));
            }
            Some(Ok(()))
        })
        .await;
        match listener {
            Some(r) => r.map(|()| envoy.id),
            None => bail!(
                "{name} not ready on admin port {} within {:?}",
                admin.port,
                o.ready_timeout
            ),
        }
    }
}
