//! `kyc-mesh check`: what `istioctl analyze` would say about networking/, with Istio's
//! message codes where one applies. The object-level checks live here; `translate`
//! adds the findings it meets while resolving routes (a missing host or subset) through
//! the same [`Findings`], so a problem is worded and coded in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::ambient;
use crate::istio::{gateway_api, namespace_of, Loaded, Object};
use crate::registry::Registry;
use crate::topology::{Topology, BINARIES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// Istio analyzer message codes (istio.io/latest/docs/reference/config/analysis/), and the
/// project's own `KYC…` codes for what Istio refuses without an analyzer code.
/// `tests/deploy/meshcheck.py`, the independent second analyzer, uses the same codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// IST0101: a Gateway, host, port or subset a resource refers to does not exist (also
    /// an HTTPRoute's parentRef Gateway or backendRef Service).
    ReferencedResourceNotFound,
    /// IST0173: a DestinationRule subset selects no pods.
    DestinationRuleSubsetNotSelectPods,
    /// IST0174: a DestinationRule host matches no Service.
    UnknownDestinationRuleHost,
    /// IST0127: a policy's workload selector matches no pod.
    NoMatchingWorkloadsFound,
    /// KYC0001: the weights of a route do not add up to 100 (Istio's validation webhook
    /// refuses such a VirtualService; no analyzer code exists for it).
    WeightsNotHundred,
}

impl Code {
    pub fn id(self) -> &'static str {
        match self {
            Code::ReferencedResourceNotFound => "IST0101",
            Code::DestinationRuleSubsetNotSelectPods => "IST0173",
            Code::UnknownDestinationRuleHost => "IST0174",
            Code::NoMatchingWorkloadsFound => "IST0127",
            Code::WeightsNotHundred => "KYC0001",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {self:?}", self.id())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub origin: String,
    pub message: String,
    pub code: Option<Code>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} [{}] {}", self.severity, self.origin, self.message)?;
        match self.code {
            Some(code) => write!(f, " ({code})"),
            None => Ok(()),
        }
    }
}

/// The findings of one analysis, each recorded once: a broken reference used by several
/// routes is one problem to fix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Findings(pub Vec<Finding>);

impl Findings {
    pub(crate) fn push(&mut self, severity: Severity, origin: &Loaded, message: String) {
        self.push_coded(severity, origin, message, None);
    }

    pub(crate) fn push_coded(
        &mut self,
        severity: Severity,
        origin: &Loaded,
        message: String,
        code: Option<Code>,
    ) {
        let finding = Finding {
            severity,
            origin: origin.origin.to_string(),
            message,
            code,
        };
        if !self.0.contains(&finding) {
            self.0.push(finding);
        }
    }

    /// The errors among the findings.
    #[cfg(test)]
    pub(crate) fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter().filter(|f| f.severity == Severity::Error)
    }
}

/// The checks that need no route translation, in the order `check` reports them.
pub(crate) fn objects(objects: &[Loaded], registry: &Registry, topology: &Topology) -> Findings {
    let mut findings = Findings::default();
    deployments(objects, &mut findings);
    gateways(registry, &mut findings);
    http_routes(objects, registry, &mut findings);
    for (o, s) in &registry.services {
        if let Some(problem) = ambient::use_waypoint_problem(registry, s) {
            findings.push(Severity::Error, o, problem);
        }
    }
    destination_rules(registry, topology, &mut findings);
    findings
}

fn deployments(objects: &[Loaded], findings: &mut Findings) {
    for o in objects {
        if let Object::Deployment(d) = &o.object {
            if !BINARIES.contains(&d.metadata.name.as_str()) {
                findings.push(
                    Severity::Warning,
                    o,
                    format!(
                        "Deployment {:?} has no local binary (local topology: {})",
                        d.metadata.name,
                        BINARIES.join(", ")
                    ),
                );
            }
        }
    }
}

/// Gateways: HTTP only, and one port, mapped to the local gateway port.
fn gateways(registry: &Registry, findings: &mut Findings) {
    let mut ports = BTreeSet::new();
    for (o, g) in &registry.gateways {
        if g.spec.selector.get("istio").map(String::as_str) != Some("ingressgateway") {
            // istioctl analyze: an error (no gateway workload runs it); locally a warning,
            // since the one Envoy gateway serves it anyway.
            findings.push_coded(
                Severity::Warning,
                o,
                format!(
                    "spec.selector {:?} does not select Istio's ingress gateway (istio: ingressgateway); locally this Gateway is still served by the Envoy gateway",
                    g.spec.selector
                ),
                Some(Code::ReferencedResourceNotFound),
            );
        }
        for (i, s) in g.spec.servers.iter().enumerate() {
            if !matches!(
                s.port.protocol.to_ascii_uppercase().as_str(),
                "HTTP" | "HTTP2"
            ) {
                findings.push(
                    Severity::Error,
                    o,
                    format!(
                        "spec.servers[{i}].port.protocol {:?}: only HTTP is translated (TLS needs the minikube + Istio path)",
                        s.port.protocol
                    ),
                );
            }
            ports.insert(s.port.number);
        }
    }
    for (o, g) in &registry.api_gateways {
        if ambient::is_waypoint(g) {
            for problem in ambient::waypoint_problems(g) {
                findings.push(Severity::Error, o, problem);
            }
            continue;
        }
        if g.spec.gateway_class_name != gateway_api::ISTIO_CLASS {
            findings.push(
                Severity::Error,
                o,
                format!(
                    "spec.gatewayClassName {:?}: the local mesh serves Istio's class {:?} only",
                    g.spec.gateway_class_name,
                    gateway_api::ISTIO_CLASS
                ),
            );
            continue;
        }
        for (i, l) in g.spec.listeners.iter().enumerate() {
            if l.protocol != "HTTP" {
                findings.push(
                    Severity::Error,
                    o,
                    format!(
                        "spec.listeners[{i}].protocol {:?}: only HTTP is translated (HTTPS/TLS/TCP need the minikube + Istio path)",
                        l.protocol
                    ),
                );
            }
            ports.insert(l.port);
        }
    }
    let first = (registry.gateways.first().map(|(o, _)| *o))
        .or_else(|| registry.api_gateways.first().map(|(o, _)| *o));
    if let (true, Some(origin)) = (ports.len() > 1, first) {
        findings.push(
            Severity::Error,
            origin,
            format!("gateway ports {ports:?}: the local mesh maps exactly one gateway port (Istio's 80) to --gateway-port"),
        );
    }
    if registry.gateways.is_empty() && registry.api_gateways.is_empty() {
        findings.0.push(Finding {
            severity: Severity::Error,
            origin: "networking/".into(),
            message: "no Gateway found: nothing to translate into the ingress gateway".into(),
            code: None,
        });
    }
}

/// HTTPRoutes: parentRefs name existing Gateways, backendRefs existing Services and ports
/// (IST0101, as `istioctl analyze` reports a VirtualService's missing references).
fn http_routes(objects: &[Loaded], registry: &Registry, findings: &mut Findings) {
    for (o, r) in &registry.http_routes {
        let ns = namespace_of(&r.metadata.namespace);
        if r.spec.parent_refs.is_empty() {
            findings.push(
                Severity::Info,
                o,
                "no spec.parentRefs: not attached to a Gateway, not applied at the local ingress gateway".into(),
            );
        }
        for (i, p) in r.spec.parent_refs.iter().enumerate() {
            if ambient::is_service_parent(p) {
                for problem in ambient::service_parent_problems(objects, registry, i, p, ns) {
                    findings.push(Severity::Error, o, problem);
                }
                continue;
            }
            if !p.is_gateway() {
                findings.push(
                    Severity::Error,
                    o,
                    format!(
                        "spec.parentRefs[{i}]: group {:?} kind {:?}: only Gateway parents are translated (a Service parent is mesh routing, which needs sidecars)",
                        p.group.as_deref().unwrap_or(gateway_api::GROUP),
                        p.kind.as_deref().unwrap_or("Gateway")
                    ),
                );
                continue;
            }
            let gw_ns = p.namespace.as_deref().unwrap_or(ns);
            if registry.api_gateway(&p.name, gw_ns).is_none() {
                findings.push_coded(
                    Severity::Error,
                    o,
                    format!(
                        "spec.parentRefs[{i}]: Gateway \"{gw_ns}/{}\" not found",
                        p.name
                    ),
                    Some(Code::ReferencedResourceNotFound),
                );
            }
        }
        for (ri, rule) in r.spec.rules.iter().enumerate() {
            for (bi, b) in rule.backend_refs.iter().enumerate() {
                let b_ns = b.namespace.as_deref().unwrap_or(ns);
                if !b.is_service() || b_ns != ns {
                    continue; // refused by translation, with the field named
                }
                let at = format!("spec.rules[{ri}].backendRefs[{bi}]");
                let Some(res) = registry.resolve(&b.name, b_ns) else {
                    findings.push_coded(
                        Severity::Error,
                        o,
                        format!("{at}: Service \"{b_ns}/{}\" not found", b.name),
                        Some(Code::ReferencedResourceNotFound),
                    );
                    continue;
                };
                let ports: Vec<u16> = res.service.spec.ports.iter().map(|p| p.port).collect();
                if let Some(port) = b.port.filter(|p| !ports.contains(p)) {
                    findings.push_coded(
                        Severity::Error,
                        o,
                        format!(
                            "{at}.port {port} is not a port of Service {} (ports: {ports:?})",
                            res.name
                        ),
                        Some(Code::ReferencedResourceNotFound),
                    );
                }
            }
        }
    }
}

/// DestinationRules: the host exists and has one rule, subsets are unique and select pods.
fn destination_rules(registry: &Registry, topology: &Topology, findings: &mut Findings) {
    let mut rule_hosts: BTreeMap<String, String> = BTreeMap::new();
    for (o, r) in &registry.rules {
        let Some(res) = registry.resolve(&r.spec.host, namespace_of(&r.metadata.namespace)) else {
            findings.push_coded(
                Severity::Error,
                o,
                format!("spec.host {:?} does not match any Service", r.spec.host),
                Some(Code::UnknownDestinationRuleHost),
            );
            continue;
        };
        if let Some(other) = rule_hosts.insert(res.fqdn(), r.metadata.name.clone()) {
            findings.push(
                Severity::Error,
                o,
                format!(
                    "DestinationRules {other:?} and {:?} both configure host {}",
                    r.metadata.name,
                    res.fqdn()
                ),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, s) in r.spec.subsets.iter().enumerate() {
            if !seen.insert(s.name.clone()) {
                findings.push(
                    Severity::Error,
                    o,
                    format!("spec.subsets[{i}]: duplicate subset name {:?}", s.name),
                );
            }
            let mut selector = res.service.spec.selector.clone();
            selector.extend(s.labels.clone());
            if !topology.workloads.iter().any(|w| w.selected_by(&selector)) {
                findings.push_coded(
                    Severity::Error,
                    o,
                    format!(
                        "spec.subsets[{i}] {:?}: labels {:?} select no pods",
                        s.name, s.labels
                    ),
                    Some(Code::DestinationRuleSubsetNotSelectPods),
                );
            }
        }
    }
}
