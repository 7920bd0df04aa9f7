//! The ambient data plane at run time: what each waypoint and node proxy runs, and how a new
//! generation or a rollout reaches it.
//!
//! A waypoint's routes come from one RDS file per Service port (`envoy/hbone.rs`): a weight
//! override, the canary's steps and an edit of an HTTPRoute's matches or weights are written
//! there and confirmed through the waypoint's admin stats (`update_success` moved, or the
//! update was rejected), in the same apply as the sidecars' and the gateway's, before the
//! generation is in force. Its clusters to the instances come from a CDS file, written again
//! when a rollout moves an instance's app. A node proxy's configuration file is written again
//! and the node proxy told with SIGHUP (confirmed by its `kyc_node_proxy_config_reloads_total`)
//! when the L4 policies change or an instance's app moves. What is still fixed at start (the
//! Services a waypoint serves, its cluster set and RBAC, the instances) is said once to take a
//! new start (docs/ambient.md#limits).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::apply::{confirmed, write_json, Admin, ApplyError};
use crate::envoy::route::Route;
use crate::envoy::{hbone, ClusterName};
use crate::snapshot::Accepted;

use super::ambient_plan::AmbientPlan;
use crate::translate::{NodePolicies, Waypoint};

/// How long a node proxy gets to reload (as an Envoy gets to apply an update).
const APPLY_WAIT: Duration = crate::apply::APPLY_WAIT;

/// One Service port of a waypoint: its RDS directory and the routes the waypoint runs.
struct ServiceRoutes {
    dir: PathBuf,
    routes: Vec<Route>,
}

/// One running node proxy.
pub(crate) struct LiveNode {
    name: String,
    pid: Option<u32>,
    admin: Admin,
}

/// The node proxy's reload counter (`outcome="applied"` or `"rejected"`).
const RELOADS: &str = "kyc_node_proxy_config_reloads_total";

impl LiveNode {
    pub(crate) fn new(name: String, pid: Option<u32>, admin_port: u16) -> Self {
        LiveNode {
            name,
            pid,
            admin: Admin::new(admin_port),
        }
    }

    /// Its reload counters: (applied, rejected).
    async fn reloads(&self) -> Result<(u64, u64), ApplyError> {
        let (_, text) = self.admin.get("/metrics").await?;
        let count = |outcome: &str| {
            let label = format!("outcome=\"{outcome}\"");
            text.lines()
                .filter(|l| l.starts_with(RELOADS) && l.contains(&label))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        };
        Ok((count("applied"), count("rejected")))
    }

    /// Tell it to read its configuration file again (written already) and wait until it did.
    async fn reload(&self) -> Result<(), ApplyError> {
        let what = format!("{}'s configuration", self.name);
        let before = self.reloads().await?;
        let Some(pid) = self.pid else {
            return Err(ApplyError::NodeProxy(format!("{what}: no process to tell")));
        };
        crate::supervise::hang_up(pid);
        let tick = Duration::from_millis(20);
        let moved = crate::apply::admin::poll(APPLY_WAIT, tick, || async {
            let now = self.reloads().await.ok()?;
            if now.1 > before.1 {
                return Some(Err(ApplyError::NodeProxy(format!(
                    "{} refused its new configuration (see its log above)",
                    self.name
                ))));
            }
            (now.0 > before.0).then_some(Ok(()))
        })
        .await;
        moved.unwrap_or(Err(ApplyError::NodeProxy(format!(
            "{what} was not reloaded within {APPLY_WAIT:?}"
        ))))
    }
}

/// One running waypoint.
pub(crate) struct LiveWaypoint {
    admin: Admin,
    /// As started, without routes (what a new start would be needed for).
    fixed: Waypoint,
    /// By internal listener (`inbound-vip|…`).
    services: BTreeMap<String, ServiceRoutes>,
    version: u64,
}

impl LiveWaypoint {
    /// The waypoint `w` started with RDS files in `dirs` (by internal listener name, at
    /// version 1), admin on `admin_port`.
    pub(crate) fn new(w: &Waypoint, dirs: BTreeMap<String, PathBuf>, admin_port: u16) -> Self {
        let services = w
            .services
            .iter()
            .filter_map(|s| {
                let vip = s.vip_name();
                let dir = dirs.get(&vip)?.clone();
                Some((
                    vip,
                    ServiceRoutes {
                        dir,
                        routes: s.routes.clone(),
                    },
                ))
            })
            .collect();
        LiveWaypoint {
            admin: Admin::new(admin_port),
            fixed: without_routes(w),
            services,
            version: 1,
        }
    }

    /// Write its clusters to the instances as `plan` has them (CDS) and wait until it took
    /// them.
    async fn write_clusters(&mut self, plan: &AmbientPlan) -> Result<(), ApplyError> {
        self.version += 1;
        let version = self.version;
        confirmed(&self.admin, "cluster_manager.cds", || {
            plan.write_waypoint_cds(&self.fixed, version)
        })
        .await
    }

    /// Write the routes of `w` that differ and wait until the waypoint took each.
    async fn apply(&mut self, w: &Waypoint) -> Result<bool, ApplyError> {
        let mut changed = false;
        for s in &w.services {
            let vip = s.vip_name();
            let Some(current) = self.services.get_mut(&vip) else {
                continue;
            };
            if current.routes == s.routes {
                continue;
            }
            let routes = s
                .routes
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApplyError::Json(vip.clone(), e))?;
            self.version += 1;
            let body = hbone::route_configuration(&vip, self.version, routes);
            confirmed(&self.admin, &hbone::rds_stat(&vip), || {
                write_json(&current.dir, hbone::RDS_FILE, &body)
            })
            .await?;
            current.routes = s.routes.clone();
            changed = true;
        }
        Ok(changed)
    }
}

/// `w` with no routes: what cannot change without a new start.
fn without_routes(w: &Waypoint) -> Waypoint {
    let mut fixed = w.clone();
    for s in &mut fixed.services {
        s.routes.clear();
    }
    fixed
}

/// Whether waypoint `now` (without routes) runs on what `fixed` started with: the same
/// Services, identity and RBAC, and no cluster it does not have (a route with a weight of 0
/// may leave one unused: it stays).
fn runs_on(fixed: &Waypoint, now: &Waypoint) -> bool {
    (
        &fixed.name,
        &fixed.namespace,
        &fixed.identity,
        &fixed.services,
    ) == (&now.name, &now.namespace, &now.identity, &now.services)
        && now
            .clusters
            .iter()
            .all(|(name, c)| fixed.clusters.get(name) == Some(c))
}

/// The ambient data plane as it runs: the node proxies, the waypoints, and what they were
/// built from.
pub(crate) struct LiveAmbient {
    plan: AmbientPlan,
    nodes: Vec<LiveNode>,
    waypoints: BTreeMap<String, LiveWaypoint>,
    /// The node proxies' L4 policies in force.
    node_policies: NodePolicies,
    /// The last generation said to need a new start (said once).
    warned: Option<Vec<Waypoint>>,
}

impl LiveAmbient {
    pub(crate) fn new(
        plan: AmbientPlan,
        nodes: Vec<LiveNode>,
        waypoints: BTreeMap<String, LiveWaypoint>,
        node_policies: NodePolicies,
    ) -> Self {
        LiveAmbient {
            plan,
            nodes,
            waypoints,
            node_policies,
            warned: None,
        }
    }

    /// The waypoint that serves one of `services` (by Service name): its admin and its
    /// clusters (fixed at start).
    pub(crate) fn waypoint_of(&self, services: &[String]) -> Option<(&Admin, Vec<ClusterName>)> {
        self.waypoints
            .values()
            .find(|w| w.fixed.services.iter().any(|s| services.contains(&s.name)))
            .map(|w| (&w.admin, w.fixed.clusters.keys().cloned().collect()))
    }

    /// Where the ambient data plane listens now (instances come and go with replicas).
    pub(crate) fn layout(&self) -> &super::ambient_layout::AmbientLayout {
        &self.plan.al
    }

    /// A new instance `pod` of `w` (scale-up), before its app starts on `app`: its node
    /// proxy binds its HBONE port (and the entry workload's outbound listeners: where its
    /// calls go, returned); the waypoints do not send to it until [`LiveAmbient::serve`].
    pub(crate) async fn add(
        &mut self,
        w: &crate::topology::Workload,
        pod: &str,
        app: u16,
        reserved: &std::collections::BTreeSet<u16>,
    ) -> Result<Option<u16>, ApplyError> {
        let calls = self
            .plan
            .add_pod(w, pod, app, reserved)
            .map_err(|e| ApplyError::NodeProxy(format!("no free port for {pod}: {e}")))?;
        let node = self.plan.node_of(pod);
        let reloaded = match node {
            Some(i) => self.reload_node(i).await,
            None => Ok(()),
        };
        if let Err(e) = reloaded {
            self.plan.remove_pod(pod);
            return Err(e);
        }
        Ok(calls)
    }

    /// Instance `pod` is ready: the waypoints send to it (or, `false`, no longer: a
    /// scale-down drains it first).
    pub(crate) async fn serve(&mut self, pod: &str, serving: bool) -> Result<(), ApplyError> {
        if let Some(p) = self.plan.pods.iter_mut().find(|p| p.pod == pod) {
            p.serving = serving;
        }
        for w in self.waypoints.values_mut() {
            w.write_clusters(&self.plan).await?;
        }
        Ok(())
    }

    /// Instance `pod` is gone (after [`LiveAmbient::serve`] with `false`): its node proxy
    /// stops its listeners.
    pub(crate) async fn remove(&mut self, pod: &str) -> Result<(), ApplyError> {
        let node = self.plan.node_of(pod);
        self.plan.remove_pod(pod);
        match node {
            Some(i) => self.reload_node(i).await,
            None => Ok(()),
        }
    }

    /// Whether workload `name` is in the ambient data plane.
    pub(crate) fn in_dataplane(&self, name: &str) -> bool {
        self.plan.workloads.contains(name)
    }

    /// Whether instance `pod` is in the ambient data plane.
    pub(crate) fn carries(&self, pod: &str) -> bool {
        self.plan.pods.iter().any(|p| p.pod == pod)
    }

    /// Write every node's configuration with `policies` and reload each.
    async fn reload_nodes(&self, policies: &NodePolicies) -> Result<(), ApplyError> {
        for (i, node) in self.nodes.iter().enumerate() {
            self.plan.write_node(i, policies)?;
            node.reload().await?;
        }
        Ok(())
    }

    /// Bring the data plane to `accepted`: the node proxies' L4 policies and the waypoints'
    /// routes (true when one changed). When something fixed at start differs, the waypoints'
    /// routes are not written and that is said once, as it applies at the next start.
    pub(crate) async fn apply(&mut self, accepted: &Accepted) -> Result<bool, ApplyError> {
        let mut changed = false;
        if accepted.node_policies != self.node_policies {
            self.reload_nodes(&accepted.node_policies).await?;
            self.node_policies = accepted.node_policies.clone();
            changed = true;
        }
        let fixed_now: Vec<Waypoint> = accepted.waypoints.iter().map(without_routes).collect();
        let same = fixed_now.len() == self.waypoints.len()
            && fixed_now.iter().all(|now| {
                self.waypoints
                    .get(&now.name)
                    .is_some_and(|live| runs_on(&live.fixed, now))
            });
        if !same {
            if self.warned.as_ref() != Some(&fixed_now) {
                eprintln!("kyc-mesh: the waypoint's Services, clusters or authorization policies changed: in ambient mode they are fixed at start and apply when the mesh starts again (its routes and weights, and the node proxies' L4 policies, apply live; docs/ambient.md#limits)");
                self.warned = Some(fixed_now);
            }
            return Ok(changed);
        }
        self.warned = None;
        for w in &accepted.waypoints {
            if let Some(live) = self.waypoints.get_mut(&w.name) {
                changed |= live.apply(w).await?;
            }
        }
        Ok(changed)
    }

    /// Instance `pod`'s app now listens on `ports` (a rollout: the old and the new process,
    /// then the new one): its node proxy accepts tunnels to them and the waypoints send to
    /// them. Adding a port, the node proxy learns it first; removing one, the waypoints stop
    /// sending there first. Confirmed step by step; on an error the instance's ports are
    /// what they were in the plan.
    pub(crate) async fn place(&mut self, pod: &str, ports: &[u16]) -> Result<(), ApplyError> {
        let Some(p) = self.plan.pods.iter_mut().find(|p| p.pod == pod) else {
            return Ok(());
        };
        let before = std::mem::replace(&mut p.apps, ports.to_vec());
        let adding = ports.iter().any(|x| !before.contains(x));
        let result = self.move_app(pod, adding).await;
        if result.is_err() {
            if let Some(p) = self.plan.pods.iter_mut().find(|p| p.pod == pod) {
                p.apps = before;
            }
        }
        result
    }

    async fn move_app(&mut self, pod: &str, node_first: bool) -> Result<(), ApplyError> {
        let Some(node) = self.plan.al.node_of.get(pod).copied() else {
            return Ok(());
        };
        if node_first {
            self.reload_node(node).await?;
        }
        for w in self.waypoints.values_mut() {
            w.write_clusters(&self.plan).await?;
        }
        if !node_first {
            self.reload_node(node).await?;
        }
        Ok(())
    }

    async fn reload_node(&self, i: usize) -> Result<(), ApplyError> {
        let Some(node) = self.nodes.get(i) else {
            return Ok(());
        };
        self.plan.write_node(i, &self.node_policies)?;
        node.reload().await
    }
}
