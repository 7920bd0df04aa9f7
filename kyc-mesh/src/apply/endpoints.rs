//! Which instances serve each workload right now. Translation points a cluster at the
//! workloads' topology ports; a rollout runs a workload's new instance on a fresh port, so
//! before a configuration is applied each topology port is replaced by the ports of the
//! instances that serve it (like EDS follows a Deployment's pods).

use std::collections::{BTreeMap, BTreeSet};

use crate::envoy::cluster::{Endpoint, LbEndpoint};
use crate::envoy::Address;
use crate::translate::ProxyConfig;

/// A workload's topology port → the local ports of the instances serving it. A port
/// missing from the map serves itself.
pub type Serving = BTreeMap<u16, Vec<u16>>;

/// `proxy` with every endpoint on a topology port replaced by the instances serving it.
pub fn serve_from(proxy: &ProxyConfig, serving: &Serving) -> ProxyConfig {
    serve_from_mesh(proxy, serving, &BTreeSet::new())
}

/// Like [`serve_from`] in a mesh with sidecars: a topology port in `behind_sidecars` is an
/// injected workload's sidecar inbound, which stays where it is for every outbound
/// cluster (the gateway's, another sidecar's); only the sidecar's own inbound cluster
/// follows the app instances behind it.
pub fn serve_from_mesh(
    proxy: &ProxyConfig,
    serving: &Serving,
    behind_sidecars: &BTreeSet<u16>,
) -> ProxyConfig {
    let mut out = proxy.clone();
    for cluster in out.clusters.values_mut() {
        let inbound = cluster.name.is_inbound();
        for locality in &mut cluster.load_assignment.endpoints {
            locality.lb_endpoints = locality
                .lb_endpoints
                .iter()
                .flat_map(|e| {
                    let port = e.endpoint.address.socket_address.port_value;
                    let follows = inbound || !behind_sidecars.contains(&port);
                    match serving.get(&port) {
                        Some(ports) if follows => ports.clone(),
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
        let proxy = crate::pipeline::build(&networking, None, &Ports::default())
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
