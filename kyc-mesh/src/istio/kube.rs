//! Kubernetes kinds read for the local topology: a Service's selector and ports, a
//! Deployment's pod labels. Unknown fields are accepted: they have no local meaning.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::LooseMetadata;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Service {
    pub(crate) metadata: LooseMetadata,
    #[serde(default)]
    pub(crate) spec: ServiceSpec,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub(crate) struct ServiceSpec {
    pub(crate) selector: BTreeMap<String, String>,
    pub(crate) ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServicePort {
    #[allow(dead_code)] // accepted in the YAML; the local mesh has no use for it
    pub(crate) name: Option<String>,
    pub(crate) port: u16,
    #[allow(dead_code)] // accepted in the YAML; the local mesh has no use for it
    pub(crate) target_port: Option<serde_norway::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Deployment {
    pub(crate) metadata: LooseMetadata,
    pub(crate) spec: DeploymentSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DeploymentSpec {
    /// How many pods (absent: 1, as Kubernetes defaults it); the local mesh runs that many
    /// instances.
    #[serde(default)]
    pub(crate) replicas: Option<u32>,
    pub(crate) template: PodTemplate,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PodTemplate {
    #[serde(default)]
    pub(crate) metadata: PodMeta,
    #[serde(default)]
    pub(crate) spec: PodSpec,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodSpec {
    pub(crate) service_account_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub(crate) struct PodMeta {
    pub(crate) labels: BTreeMap<String, String>,
    /// `sidecar.istio.io/inject` may be an annotation (the older form) or a label.
    pub(crate) annotations: BTreeMap<String, String>,
}

/// A Namespace: its labels decide sidecar injection (`istio-injection=enabled`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Namespace {
    pub(crate) metadata: LooseMetadata,
}
