//! Kubernetes kinds read for the local topology: a Service's selector and ports, a
//! Deployment's pod labels. Unknown fields are accepted: they have no local meaning.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::LooseMetadata;

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub metadata: LooseMetadata,
    #[serde(default)]
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ServiceSpec {
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub target_port: Option<serde_norway::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    pub metadata: LooseMetadata,
    pub spec: DeploymentSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentSpec {
    /// How many pods (absent: 1, as Kubernetes defaults it); the local mesh runs that many
    /// instances.
    #[serde(default)]
    pub replicas: Option<u32>,
    pub template: PodTemplate,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PodTemplate {
    #[serde(default)]
    pub metadata: PodMeta,
    #[serde(default)]
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub service_account_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PodMeta {
    pub labels: BTreeMap<String, String>,
    /// `sidecar.istio.io/inject` may be an annotation (the older form) or a label.
    pub annotations: BTreeMap<String, String>,
}

/// A Namespace: its labels decide sidecar injection (`istio-injection=enabled`).
#[derive(Debug, Clone, Deserialize)]
pub struct Namespace {
    pub metadata: LooseMetadata,
}
