//! Which workloads get a sidecar, decided from networking/ as Istio's injection webhook
//! decides it (istio/istio `pkg/kube/inject` `injectRequired` with the default
//! `istio-sidecar-injector` selectors):
//!
//! 1. the pod template's `sidecar.istio.io/inject` **label** `"true"`/`"false"` wins;
//! 2. otherwise the namespace's `istio-injection` label: `enabled` injects unless the pod
//!    template's `sidecar.istio.io/inject` **annotation** (the older form) says `"false"`,
//!    `disabled` never injects;
//! 3. a namespace without the label injects nothing (Istio's `enableNamespacesByDefault`
//!    is off), unless the pod label says `"true"`.
//!
//! A namespace networking/ does not declare has no labels, as on a fresh cluster.

use std::collections::{BTreeMap, BTreeSet};

use crate::istio::{namespace_of, Loaded, Object};
use crate::topology::Topology;

/// The pod label/annotation that overrides the namespace's choice.
pub(crate) const INJECT_KEY: &str = "sidecar.istio.io/inject";
/// The namespace label that turns injection on (`kubectl label namespace default istio-injection=enabled`).
pub(crate) const NAMESPACE_LABEL: &str = "istio-injection";

/// Whether one pod template gets a sidecar, given its namespace's labels.
pub(crate) fn injected(
    pod_labels: &BTreeMap<String, String>,
    pod_annotations: &BTreeMap<String, String>,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> bool {
    match pod_labels.get(INJECT_KEY).map(String::as_str) {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    let ns = namespace_labels.and_then(|l| l.get(NAMESPACE_LABEL).map(String::as_str));
    match ns {
        Some("enabled") => pod_annotations.get(INJECT_KEY).map(String::as_str) != Some("false"),
        _ => false,
    }
}

/// The workloads of `topology` that get a sidecar (by Deployment name).
pub(crate) fn injected_workloads(
    objects: &[Loaded],
    topology: &Topology,
) -> BTreeSet<&'static str> {
    let namespaces: BTreeMap<&str, &BTreeMap<String, String>> = objects
        .iter()
        .filter_map(|o| match &o.object {
            Object::Namespace(n) => Some((n.metadata.name.as_str(), &n.metadata.labels)),
            _ => None,
        })
        .collect();
    topology
        .workloads
        .iter()
        .filter(|w| {
            let annotations = objects.iter().find_map(|o| match &o.object {
                Object::Deployment(d)
                    if d.metadata.name == w.name
                        && namespace_of(&d.metadata.namespace) == w.namespace =>
                {
                    Some(&d.spec.template.metadata.annotations)
                }
                _ => None,
            });
            let empty = BTreeMap::new();
            injected(
                &w.labels,
                annotations.unwrap_or(&empty),
                namespaces.get(w.namespace.as_str()).copied(),
            )
        })
        .map(|w| w.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decided_as_istio_decides() {
        let none = map(&[]);
        let enabled = map(&[(NAMESPACE_LABEL, "enabled")]);
        let disabled = map(&[(NAMESPACE_LABEL, "disabled")]);
        let pod_true = map(&[(INJECT_KEY, "true")]);
        let pod_false = map(&[(INJECT_KEY, "false")]);
        // The namespace label alone.
        assert!(injected(&none, &none, Some(&enabled)));
        assert!(!injected(&none, &none, Some(&disabled)));
        assert!(!injected(&none, &none, None));
        assert!(!injected(&none, &none, Some(&none)));
        // The pod label wins either way.
        assert!(injected(&pod_true, &none, None));
        assert!(injected(&pod_true, &none, Some(&disabled)));
        assert!(!injected(&pod_false, &none, Some(&enabled)));
        // The annotation can only opt out of an enabled namespace.
        assert!(!injected(&none, &pod_false, Some(&enabled)));
        assert!(!injected(&none, &pod_true, None));
    }

    #[test]
    fn networking_injects_every_workload() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
        let objects = crate::istio::load(&dir, None).expect("networking/ loads");
        let topology = Topology::local(&crate::topology::Ports::default(), &objects);
        let got = injected_workloads(&objects, &topology);
        assert_eq!(got.len(), 3, "{got:?}");
    }
}
