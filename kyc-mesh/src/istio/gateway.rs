//! Istio `Gateway` (networking.istio.io): which port and hosts the ingress gateway serves.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Resource, Spec};

pub(crate) type Gateway = Resource<GatewaySpec>;

impl Spec for GatewaySpec {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GatewaySpec {
    #[serde(default)]
    pub(crate) selector: BTreeMap<String, String>,
    pub(crate) servers: Vec<Server>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Server {
    pub(crate) port: GatewayPort,
    #[allow(dead_code)] // accepted in the YAML; the local mesh has no use for it
    pub(crate) hosts: Vec<String>,
    #[allow(dead_code)] // accepted in the YAML; the local mesh has no use for it
    pub(crate) name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GatewayPort {
    pub(crate) number: u16,
    #[allow(dead_code)] // accepted in the YAML; the local mesh has no use for it
    pub(crate) name: Option<String>,
    pub(crate) protocol: String,
    #[allow(dead_code)] // accepted in the YAML; the local mesh has no use for it
    pub(crate) target_port: Option<u16>,
}
