//! The local topology: which workloads run, as which binary, on which port, with which
//! pod labels. ONE table: translation (endpoints of a subset), process supervision
//! (what to start, where it is ready), the banner and the tests all read it, so a port
//! or a binary is named in exactly one place.

use std::collections::BTreeMap;

use crate::istio::{Loaded, Object, DEFAULT_NAMESPACE};

/// Local ports (all on 127.0.0.1), as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub aggregator: u16,
    pub basic: u16,
    pub advanced: u16,
    pub gateway: u16,
    pub admin: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            aggregator: 8080,
            basic: 8081,
            advanced: 8082,
            gateway: 8000,
            admin: 9901,
        }
    }
}

/// The local ports of one workload's sidecar (allocated by `up`, shown by `status`): the
/// outbound listener its app's own calls go to, and the sidecar Envoy's admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SidecarPorts {
    pub(crate) outbound: u16,
    pub(crate) admin: u16,
}

/// The injected workloads (by Deployment name) and their sidecars' ports. Empty: the
/// edge-only mesh (`up --no-sidecars`, `render`).
pub(crate) type Sidecars = BTreeMap<&'static str, SidecarPorts>;

/// What translation needs to program sidecars: which workloads have one (and their
/// ports), and where each proxy's certificates and SDS files are (`<certs>/<proxy>/`,
/// written by `identity`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SidecarPlan {
    pub(crate) sidecars: Sidecars,
    pub(crate) certs: std::path::PathBuf,
    /// `up` runs no sidecar by choice (`--no-sidecars`, `--external-services`): what only a
    /// sidecar can enforce is refused rather than silently open (RequestAuthentication).
    pub(crate) edge_only: bool,
}

/// The container port every workload serves on in the cluster (the Deployments'
/// `containerPort`, the Services' `targetPort: http`): a sidecar's inbound stands for it.
pub(crate) const CONTAINER_PORT: u16 = 8080;

/// One row of the contract: a Deployment of networking/ and the binary that stands in
/// for its pod.
struct Row {
    binary: &'static str,
    /// The `version` label when networking/ has no Deployment for it.
    version: &'static str,
    /// How the banner names it.
    role: &'static str,
    port: fn(&Ports) -> u16,
}

/// The contract, in start order (the aggregator first: it is the browser's entry point).
const TABLE: [Row; 3] = [
    Row {
        binary: "kyc-aggregator-mgt",
        version: "v1",
        role: "aggregator",
        port: |p| p.aggregator,
    },
    Row {
        binary: "kyc-credit-check-basic",
        version: "v1",
        role: "basic scorer",
        port: |p| p.basic,
    },
    Row {
        binary: "kyc-credit-check-advanced",
        version: "v2",
        role: "advanced scorer",
        port: |p| p.advanced,
    },
];

/// The binaries of the local topology, in start order.
pub(crate) const BINARIES: [&str; 3] = [TABLE[0].binary, TABLE[1].binary, TABLE[2].binary];

/// The local stand-in for a pod: one binary on one port with the pod labels of its
/// Deployment (or the contract's labels when networking/ has no Deployment for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Workload {
    /// The Deployment's name (= the binary's name).
    pub(crate) name: &'static str,
    pub(crate) binary: &'static str,
    pub(crate) role: &'static str,
    pub(crate) port: u16,
    /// Pod labels, `app` and `version` included: what Service selectors and
    /// DestinationRule subsets select.
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) service_account: String,
    pub(crate) namespace: String,
    /// The Deployment's `spec.replicas` (1 without one): how many local instances run.
    pub(crate) replicas: u32,
}

impl Workload {
    /// Whether every `key: value` of a selector is one of this pod's labels.
    pub(crate) fn selected_by(&self, selector: &BTreeMap<String, String>) -> bool {
        selector.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}

/// Every workload of the local mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topology {
    pub(crate) workloads: Vec<Workload>,
}

impl Topology {
    /// The contract's topology: labels `app: <binary>`, `version: <default>`.
    pub(crate) fn new(ports: &Ports) -> Self {
        let workloads = TABLE
            .iter()
            .map(|row| Workload {
                name: row.binary,
                binary: row.binary,
                role: row.role,
                port: (row.port)(ports),
                labels: [("app", row.binary), ("version", row.version)]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                service_account: row.binary.to_string(),
                namespace: DEFAULT_NAMESPACE.to_string(),
                replicas: 1,
            })
            .collect();
        Topology { workloads }
    }

    /// The topology networking/ describes: pod labels, service account and namespace from
    /// the Deployment of the same name where there is one.
    pub(crate) fn local(ports: &Ports, objects: &[Loaded]) -> Self {
        let mut topology = Topology::new(ports);
        for w in &mut topology.workloads {
            let deployment = objects.iter().find_map(|o| match &o.object {
                Object::Deployment(d) if d.metadata.name == w.name => Some(d),
                _ => None,
            });
            if let Some(d) = deployment {
                w.labels = d.spec.template.metadata.labels.clone();
                if let Some(sa) = &d.spec.template.spec.service_account_name {
                    w.service_account = sa.clone();
                }
                if let Some(ns) = &d.metadata.namespace {
                    w.namespace = ns.clone();
                }
                w.replicas = d.spec.replicas.unwrap_or(1);
            }
        }
        topology
    }

    /// The workload the browser opens (the aggregator).
    pub(crate) fn entry(&self) -> &Workload {
        &self.workloads[0]
    }

    /// The instance name of replica `index` of workload `name`: like a pod's, but stable and
    /// short (a real pod's name ends in a random suffix).
    pub(crate) fn pod_name(name: &str, index: usize) -> String {
        format!("{name}-{index}")
    }

    pub(crate) fn get(&self, binary: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.binary == binary)
    }

    /// Local ports of the pods a selector picks, in table order.
    pub(crate) fn ports_selected_by(&self, selector: &BTreeMap<String, String>) -> Vec<u16> {
        self.workloads
            .iter()
            .filter(|w| w.selected_by(selector))
            .map(|w| w.port)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_maps_each_binary_to_its_port_flag() {
        let ports = Ports {
            aggregator: 1,
            basic: 2,
            advanced: 3,
            ..Ports::default()
        };
        let t = Topology::new(&ports);
        let got: Vec<(&str, u16)> = t.workloads.iter().map(|w| (w.binary, w.port)).collect();
        assert_eq!(
            got,
            [
                ("kyc-aggregator-mgt", 1),
                ("kyc-credit-check-basic", 2),
                ("kyc-credit-check-advanced", 3)
            ]
        );
        assert_eq!(t.entry().binary, BINARIES[0]);
        assert_eq!(
            t.get("kyc-credit-check-advanced")
                .map(|w| w.labels["version"].as_str()),
            Some("v2")
        );
    }
}
