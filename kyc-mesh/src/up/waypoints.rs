//! The waypoints at run time: what each one runs, and how a new generation reaches it.
//!
//! A waypoint's routes come from one RDS file per Service port (`envoy/hbone.rs`): a weight
//! override, the canary's steps and an edit of an HTTPRoute's matches or weights are written
//! there and confirmed through the waypoint's admin stats (`update_success` moved, or the
//! update was rejected), in the same apply as the sidecars' and the gateway's, before the
//! generation is in force. Everything else a waypoint or a node proxy runs (the Services it
//! serves, its clusters and endpoints, its RBAC, the node proxies' L4 policies) is fixed at
//! start: a generation that changes it is applied everywhere else and said once to take a new
//! start (docs/ambient.md#not-done-yet).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::apply::{Admin, ApplyError, Outcome};
use crate::envoy::route::Route;
use crate::envoy::{hbone, ClusterName};
use crate::snapshot::Accepted;
use crate::translate::{NodePolicies, Waypoint};

/// How long a waypoint gets to take one RDS file.
const APPLY_WAIT: Duration = Duration::from_secs(10);

/// One Service port of a waypoint: its RDS directory and the routes the waypoint runs.
struct ServiceRoutes {
    dir: PathBuf,
    routes: Vec<Route>,
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
            let stat = hbone::rds_stat(&vip);
            let before = self.admin.snapshot(&[&stat]).await?;
            let body = hbone::route_configuration(&vip, self.version, routes);
            let text =
                serde_json::to_vec_pretty(&body).map_err(|e| ApplyError::Json(vip.clone(), e))?;
            let path = current.dir.join(hbone::RDS_FILE);
            crate::files::write_atomic(&path, text).map_err(|source| ApplyError::Write {
                path: path.clone(),
                source,
            })?;
            let tick = Duration::from_millis(20);
            match self
                .admin
                .wait_moved(&[&stat], &before, APPLY_WAIT, tick)
                .await
            {
                Outcome::Applied => {}
                Outcome::Rejected(s) => return Err(ApplyError::Rejected(s)),
                Outcome::TimedOut => return Err(ApplyError::TimedOut(stat)),
            }
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

/// The ambient data plane as it runs: the waypoints and the node proxies' policies.
pub(crate) struct LiveAmbient {
    waypoints: BTreeMap<String, LiveWaypoint>,
    /// The node proxies' L4 policies as started (their configuration is fixed).
    node_policies: NodePolicies,
    /// The last generation said to need a new start (said once).
    warned: Option<(Vec<Waypoint>, NodePolicies)>,
}

impl LiveAmbient {
    pub(crate) fn new(
        waypoints: BTreeMap<String, LiveWaypoint>,
        node_policies: NodePolicies,
    ) -> Self {
        LiveAmbient {
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

    /// Bring the waypoints' routes to `accepted`'s (true when one changed). When something
    /// fixed at start differs, nothing is written and that is said once, as it applies at the
    /// next start.
    pub(crate) async fn apply(&mut self, accepted: &Accepted) -> Result<bool, ApplyError> {
        let fixed_now: Vec<Waypoint> = accepted.waypoints.iter().map(without_routes).collect();
        let same = fixed_now.len() == self.waypoints.len()
            && fixed_now.iter().all(|now| {
                self.waypoints
                    .get(&now.name)
                    .is_some_and(|live| runs_on(&live.fixed, now))
            })
            && accepted.node_policies == self.node_policies;
        if !same {
            let key = (fixed_now, accepted.node_policies.clone());
            if self.warned.as_ref() != Some(&key) {
                eprintln!("kyc-mesh: the waypoint's Services, clusters or policies, or the node proxies' L4 policies, changed: in ambient mode they are fixed at start and apply when the mesh starts again (the waypoint's routes and weights apply live; docs/ambient.md#not-done-yet)");
                self.warned = Some(key);
            }
            return Ok(false);
        }
        self.warned = None;
        let mut changed = false;
        for w in &accepted.waypoints {
            if let Some(live) = self.waypoints.get_mut(&w.name) {
                changed |= live.apply(w).await?;
            }
        }
        Ok(changed)
    }
}
