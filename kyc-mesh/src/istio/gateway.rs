//! Istio `Gateway` (networking.istio.io): which port and hosts the ingress gateway serves.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Resource, Spec};

pub type Gateway = Resource<GatewaySpec>;

impl Spec for GatewaySpec {}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySpec {
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    pub port: GatewayPort,
    pub hosts: Vec<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayPort {
    pub number: u16,
    pub name: Option<String>,
    pub protocol: String,
    pub target_port: Option<u16>,
}
