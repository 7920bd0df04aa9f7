//! Ambient mode as Istio decides it from the YAML (istio.io "Ambient mode"): which workloads
//! are in the ambient data plane, which waypoint serves which Service, and what the local
//! mesh refuses there (by field path).
//!
//! - A workload is ambient when its namespace has the label `istio.io/dataplane-mode:
//!   ambient`, unless its pod template's label `istio.io/dataplane-mode: none` opts it out
//!   or it gets a sidecar (a pod with a sidecar is never captured by ztunnel).
//! - A waypoint is a Gateway API Gateway of class `istio-waypoint` with one listener, HBONE
//!   on 15008; `istio.io/waypoint-for: service` (the default) is the kind served locally.
//! - A Service uses a waypoint named by its label `istio.io/use-waypoint`, else its
//!   namespace's; an HTTPRoute whose parent is that Service (GAMMA) is applied by that
//!   waypoint, to the traffic addressed to the Service.

use std::collections::{BTreeMap, BTreeSet};

use crate::istio::{gateway_api, namespace_of, Loaded, Object, Service};
use crate::registry::{Registry, Resolved};
use crate::topology::Topology;

pub(crate) const DATAPLANE_MODE: &str = "istio.io/dataplane-mode";
pub(crate) const USE_WAYPOINT: &str = "istio.io/use-waypoint";
pub(crate) const WAYPOINT_FOR: &str = "istio.io/waypoint-for";
pub(crate) const WAYPOINT_CLASS: &str = "istio-waypoint";
/// The HBONE port: a waypoint's listener, a pod's ztunnel inbound.
pub(crate) const HBONE_PORT: u16 = 15008;

/// The labels of each namespace networking/ declares.
fn namespace_labels(objects: &[Loaded]) -> BTreeMap<&str, &BTreeMap<String, String>> {
    objects
        .iter()
        .filter_map(|o| match &o.object {
            Object::Namespace(n) => Some((n.metadata.name.as_str(), &n.metadata.labels)),
            _ => None,
        })
        .collect()
}

/// The workloads in the ambient data plane (by Deployment name); `injected` are the
/// workloads that get a sidecar.
pub(crate) fn ambient_workloads(
    objects: &[Loaded],
    topology: &Topology,
    injected: &BTreeSet<&'static str>,
) -> BTreeSet<&'static str> {
    let namespaces = namespace_labels(objects);
    topology
        .workloads
        .iter()
        .filter(|w| !injected.contains(w.name))
        .filter(|w| w.labels.get(DATAPLANE_MODE).map(String::as_str) != Some("none"))
        .filter(|w| {
            namespaces
                .get(w.namespace.as_str())
                .and_then(|l| l.get(DATAPLANE_MODE))
                .map(String::as_str)
                == Some("ambient")
        })
        .map(|w| w.name)
        .collect()
}

/// Whether a Gateway API Gateway is a waypoint.
pub(crate) fn is_waypoint(g: &gateway_api::Gateway) -> bool {
    g.spec.gateway_class_name == WAYPOINT_CLASS
}

/// The waypoint a Service uses: its label, else its namespace's (`None`: no waypoint, or
/// `istio.io/use-waypoint: none`).
pub(crate) fn waypoint_name<'a>(objects: &'a [Loaded], service: &Resolved<'a>) -> Option<&'a str> {
    let own = service.service.metadata.labels.get(USE_WAYPOINT);
    let ns = namespace_labels(objects)
        .get(service.namespace)
        .and_then(|l| l.get(USE_WAYPOINT));
    own.or(ns)
        .map(String::as_str)
        .filter(|name| *name != "none")
}

/// The waypoint Gateway a Service uses, if it exists.
pub(crate) fn waypoint_of<'a>(
    objects: &'a [Loaded],
    registry: &Registry<'a>,
    service: &Resolved<'a>,
) -> Option<&'a gateway_api::Gateway> {
    let name = waypoint_name(objects, service)?;
    registry
        .api_gateway(name, service.namespace)
        .filter(|g| is_waypoint(g))
}

/// What the local mesh cannot serve in a waypoint Gateway, each naming its field.
pub(crate) fn waypoint_problems(g: &gateway_api::Gateway) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(kind) = g
        .metadata
        .labels
        .get(WAYPOINT_FOR)
        .filter(|k| k.as_str() != "service")
    {
        problems.push(format!("metadata.labels[\"{WAYPOINT_FOR}\"] {kind:?}: the local waypoint serves Services only (\"service\", Istio's default)"));
    }
    if g.spec.listeners.len() != 1 {
        problems.push(format!(
            "spec.listeners: a waypoint has one listener (HBONE on {HBONE_PORT}), not {}",
            g.spec.listeners.len()
        ));
    }
    for (i, l) in g.spec.listeners.iter().enumerate() {
        if l.protocol != "HBONE" || l.port != HBONE_PORT {
            problems.push(format!(
                "spec.listeners[{i}]: {} on {}: a waypoint listens for HBONE on {HBONE_PORT}",
                l.protocol, l.port
            ));
        }
        if l.hostname.is_some() {
            problems.push(format!(
                "spec.listeners[{i}].hostname: not translated for a waypoint"
            ));
        }
    }
    problems
}

/// Whether an HTTPRoute parent is a core Service (GAMMA).
pub(crate) fn is_service_parent(p: &gateway_api::ParentRef) -> bool {
    p.group.as_deref() == Some("") && p.kind.as_deref() == Some("Service")
}

/// What is wrong with an HTTPRoute's Service parent (`spec.parentRefs[i]`): the Service
/// must exist, have the port and use a waypoint (a Service parent without one is sidecar
/// mesh routing, GAMMA, which the local mesh does not translate).
pub(crate) fn service_parent_problems(
    objects: &[Loaded],
    registry: &Registry,
    i: usize,
    p: &gateway_api::ParentRef,
    route_ns: &str,
) -> Vec<String> {
    let ns = p.namespace.as_deref().unwrap_or(route_ns);
    let at = format!("spec.parentRefs[{i}]");
    let mut problems = Vec::new();
    if p.section_name.is_some() {
        problems.push(format!(
            "{at}.sectionName: not translated for a Service parent"
        ));
    }
    let Some(service) = registry.resolve(&p.name, ns) else {
        problems.push(format!("{at}: Service \"{ns}/{}\" not found", p.name));
        return problems;
    };
    let ports: Vec<u16> = service.service.spec.ports.iter().map(|p| p.port).collect();
    if let Some(port) = p.port.filter(|port| !ports.contains(port)) {
        problems.push(format!(
            "{at}.port {port} is not a port of Service {} (ports: {ports:?})",
            service.name
        ));
    }
    match waypoint_name(objects, &service) {
        None => problems.push(format!(
            "{at}: Service {} has no waypoint (label it {USE_WAYPOINT}: <waypoint>): the local mesh applies a Service parent's routes in its waypoint only (sidecar mesh routing, GAMMA, is not translated)",
            service.name
        )),
        Some(name) if waypoint_of(objects, registry, &service).is_none() => problems.push(format!(
            "{at}: Service {} uses waypoint \"{}/{name}\", which is not a Gateway of class {WAYPOINT_CLASS}",
            service.name, service.namespace
        )),
        Some(_) => {}
    }
    problems
}

/// A Service whose `istio.io/use-waypoint` names no waypoint: what is wrong.
pub(crate) fn use_waypoint_problem(registry: &Registry, s: &Service) -> Option<String> {
    let name = s.metadata.labels.get(USE_WAYPOINT)?;
    let ns = namespace_of(&s.metadata.namespace);
    let found = registry.api_gateway(name, ns).filter(|g| is_waypoint(g));
    (name != "none" && found.is_none()).then(|| {
        format!("metadata.labels[\"{USE_WAYPOINT}\"]: no Gateway \"{ns}/{name}\" of class {WAYPOINT_CLASS}")
    })
}
