//! The running Envoys of the mesh (the ingress gateway and one sidecar per instance of each
//! injected workload): each with its xDS directory, its admin and the configuration it holds.
//! A new translation or a moved instance is applied to each through the same confirmed
//! pipeline (`apply::XdsDir`), sidecars first: an inbound cluster or a policy is in place
//! before the gateway's routes change.

use crate::apply::endpoints::{place, Placement};
use crate::apply::{Admin, ApplyError, XdsDir};
use crate::envoy::limits::GatewayLimits;
use crate::envoy::ListenerKind;
use crate::snapshot::Accepted;
use crate::translate::{ProxyConfig, ProxyId};

use super::layout::Pod;

/// One running Envoy.
pub(super) struct Proxy {
    pub(crate) id: ProxyId,
    /// The instance whose sidecar it is (none for the gateway).
    pub(crate) pod: Option<Pod>,
    pub(crate) xds: XdsDir,
    pub(crate) admin: Admin,
    /// Its process (`supervise::Proc::id`): its exit stops the mesh.
    pub(crate) proc_id: usize,
    /// The last good translation for its workload (endpoints on contract ports, the ports
    /// of instance 0's sidecar).
    pub(crate) config: ProxyConfig,
}

/// What one proxy runs: `config` for its instance, with the instances serving now. Each
/// instance's sidecar listens on its own inbound and outbound ports and names its pod in
/// its node id (`sidecar~127.0.0.1~<pod>.<ns>~…`, as istiod's); its inbound cluster targets
/// its own app.
pub(super) fn placed(config: &ProxyConfig, pod: Option<&Pod>, at: &Placement) -> ProxyConfig {
    let Some(pod) = pod else {
        return place(config, &at.serving, None);
    };
    let mut config = config.clone();
    if let Some(sidecar) = pod.sidecar {
        for l in &mut config.listeners {
            match l.listener.kind {
                ListenerKind::SidecarInbound => l.listener.local_port = sidecar.inbound,
                ListenerKind::SidecarOutbound => l.listener.local_port = sidecar.outbound,
                _ => {}
            }
        }
    }
    config.node.id = config.node.id.replacen(
        &format!("~{}.", pod.workload),
        &format!("~{}.", pod.name),
        1,
    );
    let apps = at.apps.get(&pod.name).map(Vec::as_slice);
    place(&config, &at.serving, apps)
}

pub(super) struct Proxies {
    /// Sidecars first, the gateway last.
    pub(crate) all: Vec<Proxy>,
    /// `up`'s `--gateway-*` limits: a translation carries the defaults, and the gateway's
    /// listener is updated by a reload now (sidecars' mode changes are listener updates),
    /// so every configuration applied to the gateway gets them again.
    pub(crate) gateway_limits: GatewayLimits,
    /// Each proxy's xDS directory is in here (`<workload>/` for instance 0's sidecar, `<pod>/`
    /// for the others', `gateway/`).
    pub(crate) xds_dir: std::path::PathBuf,
}

impl Proxies {
    /// The proxy whose process has id `proc_id`.
    pub(super) fn by_proc(&self, proc_id: usize) -> Option<&Proxy> {
        self.all.iter().find(|p| p.proc_id == proc_id)
    }

    /// The gateway, or the first sidecar of a workload.
    pub(super) fn get(&self, id: ProxyId) -> Option<&Proxy> {
        self.all.iter().find(|p| p.id == id)
    }

    /// The sidecar of instance `pod` (by name).
    pub(super) fn sidecar_of(&self, pod: &str) -> Option<&Proxy> {
        self.all
            .iter()
            .find(|p| p.pod.as_ref().is_some_and(|p| p.name == pod))
    }

    /// The ingress gateway: the mesh's edge, whose subset clusters the canary reads and
    /// whose routes `set-weights` changes (`up` always starts it, last).
    pub(super) fn gateway(&self) -> Option<&Proxy> {
        self.get(ProxyId::IngressGateway)
    }

    /// The admin that confirms a change of instance `pod`'s endpoints: its sidecar's if it
    /// has one, else the gateway's.
    pub(super) fn admin_for(&self, pod: &str) -> Option<&Admin> {
        self.sidecar_of(pod)
            .or_else(|| self.gateway())
            .map(|p| &p.admin)
    }

    /// Apply a new translation with the instances serving now. Every proxy is tried; the
    /// first error is returned (the proxies that applied keep the new configuration).
    pub(super) async fn apply(
        &mut self,
        accepted: &Accepted,
        at: &Placement,
    ) -> Result<bool, ApplyError> {
        let mut changed = false;
        let mut first_error = None;
        for p in &mut self.all {
            let config = match p.id {
                ProxyId::IngressGateway => {
                    let mut gateway = accepted.ingress.clone();
                    if let Some(l) = gateway.listeners.first_mut() {
                        l.listener.limits = self.gateway_limits;
                    }
                    Some(gateway)
                }
                ProxyId::Sidecar(name) => accepted.sidecars.get(name).cloned(),
            };
            let Some(config) = config else {
                continue; // injection changed since `up` started: see `reload`
            };
            match p
                .xds
                .apply(&p.admin, &placed(&config, p.pod.as_ref(), at))
                .await
            {
                Ok(c) => {
                    changed |= c;
                    p.config = config;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(changed),
        }
    }

    /// Wait until every endpoint of every proxy passed its readiness check (the first round
    /// runs while the other proxies still start: an early request would get 503). False
    /// after `deadline`.
    pub(super) async fn wait_healthy(&self, deadline: std::time::Duration) -> bool {
        let tick = std::time::Duration::from_millis(50);
        crate::apply::admin::poll(deadline, tick, || async {
            for p in &self.all {
                let stats = p.admin.stats("membership_(healthy|total)$").await.ok()?;
                let unhealthy = stats.iter().any(|(name, total)| {
                    let Some(cluster) = name.strip_suffix(".membership_total") else {
                        return false;
                    };
                    let healthy = stats.get(&format!("{cluster}.membership_healthy"));
                    healthy.is_some_and(|h| h < total)
                });
                if unhealthy {
                    return None;
                }
            }
            Some(())
        })
        .await
        .is_some()
    }

    /// Re-apply the held configurations with moved instances (a rollout).
    pub(super) async fn reserve(&mut self, at: &Placement) -> Result<(), ApplyError> {
        for p in &mut self.all {
            let config = placed(&p.config, p.pod.as_ref(), at);
            p.xds.apply(&p.admin, &config).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Ports, Topology};

    #[test]
    fn each_instance_s_sidecar_listens_on_its_own_ports_and_forwards_to_its_own_app() {
        let ports = Ports::default();
        let networking = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
        let mut topology = Topology::new(&ports);
        topology.workloads[2].replicas = 2;
        let injected = topology.workloads.iter().map(|w| w.name).collect();
        let layout = super::super::layout::Layout::allocate(
            &topology,
            &injected,
            &Default::default(),
            "certs".into(),
        )
        .expect("allocate");
        let accepted = crate::snapshot::Sources::new(&networking)
            .snapshot(None, ports)
            .and_then(|s| s.translate(&layout.plan))
            .expect("networking/ translates");
        let name = "kyc-credit-check-advanced";
        let pods = &layout.pods[name];
        let sidecar = pods[1].sidecar.expect("injected");
        let mut at = Placement::default();
        at.serving.insert(8082, vec![8082, sidecar.inbound]);
        at.apps.insert(pods[1].name.clone(), vec![pods[1].app]);
        let config = placed(&accepted.sidecars[name], Some(&pods[1]), &at);
        let local: Vec<(ListenerKind, u16)> = config
            .listeners
            .iter()
            .map(|l| (l.listener.kind, l.listener.local_port))
            .collect();
        assert!(local.contains(&(ListenerKind::SidecarInbound, sidecar.inbound)));
        assert!(local.contains(&(ListenerKind::SidecarOutbound, sidecar.outbound)));
        assert!(config
            .node
            .id
            .contains("~kyc-credit-check-advanced-1.default~"));
        let endpoints = |config: &ProxyConfig, inbound: bool| -> Vec<u16> {
            config
                .clusters
                .values()
                .filter(|c| c.name.is_inbound() == inbound)
                .flat_map(|c| &c.load_assignment.endpoints)
                .flat_map(|l| &l.lb_endpoints)
                .map(|e| e.endpoint.address.socket_address.port_value)
                .collect()
        };
        assert_eq!(endpoints(&config, true), [pods[1].app], "its own app only");
        // The gateway lists both instances' sidecars for advanced.
        let gateway = placed(&accepted.ingress, None, &at);
        let all = endpoints(&gateway, false);
        assert!(
            all.contains(&8082) && all.contains(&sidecar.inbound),
            "{all:?}"
        );
        // replicas: 0 → no endpoint at all for it.
        at.serving.insert(8082, vec![]);
        let gateway = placed(&accepted.ingress, None, &at);
        let none = endpoints(&gateway, false);
        assert!(
            !none.contains(&8082) && !none.contains(&sidecar.inbound),
            "{none:?}"
        );
    }
}
