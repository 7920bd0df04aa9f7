//! The typed model of the Kubernetes and Istio objects the local mesh understands, one
//! file per kind, and the loader that reads them from networking/.
//!
//! Istio routing kinds (Gateway, VirtualService, DestinationRule) are parsed with
//! `deny_unknown_fields`: every field present in the YAML must be one the translator
//! turns into Envoy configuration, otherwise loading fails with the file, the object and
//! the field path. Kubernetes kinds (Service, Deployment, ServiceAccount, ConfigMap,
//! Namespace) are read for topology only: their other fields have no local meaning.
//! The Gateway API's `Gateway` and `HTTPRoute` ([`gateway_api`]) are read the same strict way.

mod destination_rule;
mod gateway;
pub(crate) mod gateway_api;
#[cfg(test)]
mod hostile_tests;
mod kube;
mod load;
mod resource;
mod security;
mod virtual_service;

pub(crate) use destination_rule::*;
pub(crate) use gateway::*;
pub(crate) use kube::*;
pub(crate) use load::{load, parse_documents, LoadError};
pub(crate) use resource::{Resource, Spec};
pub(crate) use security::*;
pub(crate) use virtual_service::*;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// The namespace of an object that names none (`kubectl apply` without `-n`).
pub(crate) const DEFAULT_NAMESPACE: &str = "default";

/// Object metadata of an Istio kind. Labels/annotations are accepted on every kind.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Metadata {
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
}

/// Metadata of a topology-only kind: extra fields are harmless there.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub(crate) struct LooseMetadata {
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
}

/// The namespace an object lives in.
pub(crate) fn namespace_of(ns: &Option<String>) -> &str {
    ns.as_deref().unwrap_or(DEFAULT_NAMESPACE)
}

/// Where an object came from, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) file: PathBuf,
    pub(crate) kind: String,
    pub(crate) name: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {:?}", self.file.display(), self.kind, self.name)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Object {
    Service(Service),
    Deployment(Deployment),
    /// Its labels decide sidecar injection.
    Namespace(Namespace),
    /// ServiceAccount, ConfigMap: valid, no local effect.
    TopologyOnly,
    Gateway(Gateway),
    VirtualService(VirtualService),
    DestinationRule(DestinationRule),
    /// `gateway.networking.k8s.io` Gateway: a different kind from Istio's Gateway of the
    /// same name (both may exist side by side, as in the cluster).
    ApiGateway(gateway_api::Gateway),
    HttpRoute(gateway_api::HttpRoute),
    PeerAuthentication(PeerAuthentication),
    RequestAuthentication(RequestAuthentication),
    AuthorizationPolicy(AuthorizationPolicy),
}

/// One object of networking/ with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) origin: Origin,
    pub(crate) object: Object,
}
