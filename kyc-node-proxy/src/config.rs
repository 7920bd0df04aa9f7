//! What a node proxy is told: one JSON file (written by `kyc-mesh up --dataplane ambient`, or
//! by hand), read at start and again on SIGHUP (`run.rs`). Like ztunnel's workload and service tables, it names every
//! workload on this node (its identity, certificate, listeners, the L4 policies that select
//! it) and every service a workload here may call (its endpoints on any node, its waypoint).
//!
//! Addresses are socket addresses on loopback: without a cluster there are no pod IPs, so a
//! workload's "IP" is the address its app listens on (the CONNECT authority), and each
//! workload has its own HBONE port (15008 in a pod's network namespace).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::authz::Policy;
use crate::spiffe::SpiffeId;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// The whole node.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name (metrics, log lines): `node-1`.
    pub node: String,
    /// `/metrics` and `/healthz`.
    pub admin: SocketAddr,
    /// The mesh's root certificate (PEM): every peer's chain must end there.
    pub trust_root: PathBuf,
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub services: Vec<Service>,
}

/// A workload (one instance of a Deployment) on this node.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// The instance's name: `kyc-credit-check-basic-0`.
    pub name: String,
    /// Its Deployment (the `destination_workload` of the metrics).
    pub workload: String,
    pub identity: SpiffeId,
    /// Its certificate chain and key (PEM), as `kyc-mesh`'s CA issued them.
    pub cert_chain: PathBuf,
    pub key: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound: Option<Inbound>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<Outbound>,
}

/// HBONE into the workload.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    /// The HBONE listener (mTLS + HTTP/2 CONNECT): the workload's port 15008.
    pub hbone: SocketAddr,
    /// Where its app listens: the only CONNECT targets accepted.
    pub app: Vec<SocketAddr>,
    /// The port policies see (the pod's container port, when the app listens elsewhere on
    /// this machine); default: the target's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The AuthorizationPolicies that select this workload (L4 part).
    #[serde(default)]
    pub policies: Vec<Policy>,
}

/// A plain TCP listener the app is pointed at, carrying its connections to one service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Outbound {
    pub listen: SocketAddr,
    /// The service's `host:port`, as in `services`.
    pub service: String,
}

/// A service a workload here may call.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// `kyc-credit-check.default.svc.cluster.local`.
    pub host: String,
    pub port: u16,
    /// Its waypoint (`istio.io/use-waypoint`): every connection goes there, the CONNECT
    /// authority being the service's `host:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waypoint: Option<Peer>,
    /// Its endpoints (when there is no waypoint), chosen round robin.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

impl Service {
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// An HBONE listener and the identity it must present.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub hbone: SocketAddr,
    pub identity: SpiffeId,
}

/// One endpoint of a service: the app's address (the CONNECT authority) behind an HBONE peer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub target: SocketAddr,
    /// The endpoint's Deployment (metrics).
    pub workload: String,
    #[serde(flatten)]
    pub peer: Peer,
}

impl NodeConfig {
    /// Read and check `path`: JSON errors name the field; every `outbound.service` must be a
    /// service of the file, with a waypoint or at least one endpoint.
    pub fn read(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        };
        let mut de = serde_json::Deserializer::from_str(&text);
        let config: NodeConfig = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))?;
        config
            .check()
            .map_err(|(field, message)| invalid(field, message))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), (String, String)> {
        for (w, workload) in self.workloads.iter().enumerate() {
            for (o, out) in workload.outbound.iter().enumerate() {
                let field = format!("workloads[{w}].outbound[{o}].service");
                match self.service(&out.service) {
                    None => {
                        return Err((field, format!("no service {:?} in services", out.service)))
                    }
                    Some(s) if s.waypoint.is_none() && s.endpoints.is_empty() => {
                        return Err((
                            field,
                            format!("service {:?} has no endpoint and no waypoint", out.service),
                        ))
                    }
                    Some(_) => {}
                }
            }
            if let Some(inbound) = &workload.inbound {
                if inbound.app.is_empty() {
                    return Err((format!("workloads[{w}].inbound.app"), "no address".into()));
                }
            }
        }
        Ok(())
    }

    /// The service `host:port`.
    pub fn service(&self, authority: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.authority() == authority)
    }
}
