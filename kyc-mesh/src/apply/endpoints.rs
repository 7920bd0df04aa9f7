//! Which instances serve each workload right now. Translation points a cluster at the
//! workloads' contract ports; a workload runs `replicas` instances (each behind its own
//! sidecar with sidecars) and a rollout moves an instance to a fresh port, so before a
//! configuration is applied each contract port is replaced by the ports of the instances
//! that serve it (like EDS follows a Deployment's pods).

use std::collections::BTreeMap;

use crate::envoy::cluster::{Endpoint, LbEndpoint};
use crate::envoy::Address;
use crate::translate::ProxyConfig;

/// A workload's contract port → the ports its callers reach its instances on (their
/// sidecars' inbounds, or the apps themselves without sidecars); an empty list: no instance
/// (`replicas: 0`), Envoy answers 503 `no healthy upstream`. A port missing from the map
/// serves itself.
pub(crate) type Serving = BTreeMap<u16, Vec<u16>>;

/// Where every instance is now: [`Serving`] for the callers, and behind each sidecar (by
/// instance name) the app port(s) its inbound cluster targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) serving: Serving,
    pub(crate) apps: BTreeMap<String, Vec<u16>>,
}

/// `proxy` with every endpoint on a contract port replaced by the instances serving it.
#[cfg(test)]
pub(crate) fn serve_from(proxy: &ProxyConfig, serving: &Serving) -> ProxyConfig {
    place(proxy, serving, None)
}

/// Like [`serve_from`] for one instance's sidecar: its inbound cluster targets `apps`, the
/// app instance(s) behind that sidecar (two during a rollout's surge), never the others'.
pub(crate) fn place(proxy: &ProxyConfig, serving: &Serving, apps: Option<&[u16]>) -> ProxyConfig {
    let mut out = proxy.clone();
    for cluster in out.clusters.values_mut() {
        let inbound = cluster.name.is_inbound();
        for locality in &mut cluster.load_assignment.endpoints {
            locality.lb_endpoints = locality
                .lb_endpoints
                .iter()
                .flat_map(|e| {
                    let port = e.endpoint.address.socket_address.port_value;
                    match (inbound, apps, serving.get(&port)) {
                        (true, Some(apps), _) => apps.to_vec(),
                        (false, _, Some(ports)) => ports.clone(),
                        _ => vec![port],
                    }
                })
                .map(|port| LbEndpoint {
                    endpoint: Endpoint {
                        address: Address::loopback(port),
                    },
                })
                .collect();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Ports;

    fn ports_of(proxy: &ProxyConfig) -> Vec<Vec<u16>> {
        proxy
            .clusters
            .values()
            .map(|c| {
                c.load_assignment.endpoints[0]
                    .lb_endpoints
                    .iter()
                    .map(|e| e.endpoint.address.socket_address.port_value)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_workload_port_is_replaced_by_its_instances_and_others_stay() {
        let networking = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
        let proxy = crate::snapshot::Sources::new(&networking)
            .snapshot(None, Ports::default())
            .and_then(|s| s.translate(&Default::default()))
            .expect("networking/ translates")
            .ingress;
        let before = ports_of(&proxy);
        assert!(before.iter().any(|p| p == &[8081]), "{before:?}");
        let moved = serve_from(&proxy, &Serving::from([(8081, vec![8081, 40001])]));
        let after = ports_of(&moved);
        let expected: Vec<Vec<u16>> = before
            .iter()
            .map(|p| {
                if p == &[8081] {
                    vec![8081, 40001]
                } else {
                    p.clone()
                }
            })
            .collect();
        assert_eq!(after, expected);
        assert_eq!(
            serve_from(&proxy, &Serving::new()),
            proxy,
            "empty map: unchanged"
        );
    }
}
