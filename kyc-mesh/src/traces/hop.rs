//! Which hop of the local mesh a span is. The path of a request, as the waterfall shows it:
//!
//! ```text
//! ingress gateway ─▶ aggregator's sidecar (inbound) ─▶ aggregator ─▶ its call to the gateway
//!   ─▶ aggregator's sidecar (outbound) ─▶ gateway (mesh route: the weighted split)
//!   ─▶ scorer's sidecar (inbound) ─▶ scorer
//! ```
//!
//! In ambient mode (docs/ambient.md) the node proxies add no span (they carry bytes, as
//! ztunnel does) and the waypoint adds one per request where its L7 routes apply:
//!
//! ```text
//! ingress gateway ─▶ aggregator ─▶ its call ─▶ waypoint (the weighted split) ─▶ scorer
//! ```
//!
//! Told from the span's service name (the gateway's `istio-ingressgateway`, a sidecar's node
//! cluster `<workload>.<namespace>`, a service's own name), its kind, and the `kyc.hop` tag
//! `up` gives each Envoy listener (`gateway`, `sidecar-inbound`, `sidecar-outbound`,
//! `waypoint`: its node cluster `<waypoint>.<namespace>` names it); the
//! gateway's two roles by where it sent the request (the entry workload: ingress; a scorer:
//! the mesh route). An Envoy's upstream span (one per attempt, retries included) is the
//! `attempt` of its hop.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::envoy::telemetry::{
    HOP_GATEWAY, HOP_SIDECAR_INBOUND, HOP_SIDECAR_OUTBOUND, HOP_WAYPOINT, SERVICE_NAME,
};

use super::model::{Kind, Span};

/// What the classification needs of the mesh: its entry workload and each workload's version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MeshNames {
    /// The workload the gateway's ingress routes to (the aggregator).
    pub(crate) entry: String,
    /// Workload (binary) → its `version` label.
    pub(crate) versions: BTreeMap<String, String>,
}

impl MeshNames {
    pub(crate) fn from_topology(t: &crate::topology::Topology) -> Self {
        MeshNames {
            entry: t.entry().binary.to_string(),
            versions: t
                .workloads
                .iter()
                .map(|w| {
                    let v = w.labels.get("version").cloned().unwrap_or_default();
                    (w.binary.to_string(), v)
                })
                .collect(),
        }
    }

    fn workload<'a>(&self, name: &'a str) -> Option<&'a str> {
        self.versions.contains_key(name).then_some(name)
    }
}

/// A hop, as the waterfall labels it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "workload")]
pub(crate) enum Hop {
    /// The gateway taking the client's request to the entry workload.
    Ingress,
    /// The gateway routing a workload's call to a destination (the weighted split).
    MeshRoute,
    SidecarInbound(String),
    SidecarOutbound(String),
    /// Ambient mode: a waypoint (by name) routing a call to a destination.
    Waypoint(String),
    /// A service's server span.
    Service(String),
    /// A service's call out (the aggregator's client span).
    Call(String),
    /// Anything else (another program sending to the receiver).
    Other,
}

/// The host of an istiod-style cluster name `outbound|8080|v1|<host>.<ns>.svc.cluster.local`.
pub(crate) fn cluster_host(cluster: &str) -> Option<&str> {
    let fqdn = cluster.split('|').nth(3)?;
    fqdn.split('.').next().filter(|h| !h.is_empty())
}

/// The workload a span's Envoy sent the request to.
pub(crate) fn upstream_workload(span: &Span) -> Option<&str> {
    span.upstream_cluster().and_then(cluster_host)
}

impl Hop {
    pub(crate) fn of(span: &Span, names: &MeshNames) -> Hop {
        let tag = span.attribute("kyc.hop");
        if span.service == SERVICE_NAME || tag == Some(HOP_GATEWAY) {
            return match upstream_workload(span) {
                Some(w) if w == names.entry => Hop::Ingress,
                Some(_) => Hop::MeshRoute,
                None if span.parent_id.is_none() => Hop::Ingress,
                None => Hop::MeshRoute,
            };
        }
        if tag == Some(HOP_WAYPOINT) {
            let name = span.service.split('.').next().unwrap_or_default();
            return Hop::Waypoint(name.to_string());
        }
        // A sidecar's node cluster: `<workload>.<namespace>`.
        if let Some((workload, _ns)) = span.service.split_once('.') {
            if let Some(w) = names.workload(workload) {
                let inbound = match tag {
                    Some(HOP_SIDECAR_INBOUND) => true,
                    Some(HOP_SIDECAR_OUTBOUND) => false,
                    _ => span.kind != Kind::Client,
                };
                return if inbound {
                    Hop::SidecarInbound(w.to_string())
                } else {
                    Hop::SidecarOutbound(w.to_string())
                };
            }
        }
        match names.workload(&span.service) {
            Some(w) if span.kind == Kind::Client => Hop::Call(w.to_string()),
            Some(w) => Hop::Service(w.to_string()),
            None => Hop::Other,
        }
    }

    /// Whether the span is an Envoy's.
    pub(crate) fn is_proxy(&self) -> bool {
        matches!(
            self,
            Hop::Ingress
                | Hop::MeshRoute
                | Hop::SidecarInbound(_)
                | Hop::SidecarOutbound(_)
                | Hop::Waypoint(_)
        )
    }

    /// How the waterfall names it.
    pub(crate) fn label(&self, span: &Span, names: &MeshNames) -> String {
        let version = |w: &str| {
            names
                .versions
                .get(w)
                .filter(|v| !v.is_empty())
                .map_or(String::new(), |v| format!(" {v}"))
        };
        let attempt = if self.is_proxy() && span.kind == Kind::Client {
            match upstream_workload(span) {
                Some(to) => format!(" → {to}{} (attempt)", version(to)),
                None => " (attempt)".into(),
            }
        } else {
            String::new()
        };
        let base = match self {
            Hop::Ingress => "ingress gateway".to_string(),
            Hop::MeshRoute => "gateway · mesh route".to_string(),
            Hop::SidecarInbound(w) => format!("{w}'s sidecar · inbound"),
            Hop::SidecarOutbound(w) => format!("{w}'s sidecar · outbound"),
            Hop::Waypoint(w) if w == HOP_WAYPOINT => "waypoint · L7 route".to_string(),
            Hop::Waypoint(w) => format!("waypoint {w} · L7 route"),
            Hop::Service(w) => format!("{w}{}", version(w)),
            Hop::Call(w) => format!("{w} · call"),
            Hop::Other => span.service.clone(),
        };
        base + &attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::model::{SpanId, TraceId};

    fn span(service: &str, kind: Kind, attrs: &[(&str, &str)], parent: bool) -> Span {
        Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_id: parent.then_some(SpanId([3; 8])),
            service: service.into(),
            name: "x".into(),
            kind,
            start_ns: 0,
            end_ns: 1,
            error: false,
            http_status: None,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            hidden: 0,
        }
    }

    fn names() -> MeshNames {
        MeshNames {
            entry: "kyc-aggregator-mgt".into(),
            versions: [
                ("kyc-aggregator-mgt", "v1"),
                ("kyc-credit-check-basic", "v1"),
                ("kyc-credit-check-advanced", "v2"),
            ]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        }
    }

    #[test]
    fn every_hop_of_the_path_is_told_apart() {
        let n = names();
        let to = |host: &str| format!("outbound|8080|v1|{host}.default.svc.cluster.local");
        let agg = to("kyc-aggregator-mgt");
        let adv = to("kyc-credit-check-advanced");
        let cases = [
            (
                span(
                    SERVICE_NAME,
                    Kind::Server,
                    &[("upstream_cluster", &agg)],
                    false,
                ),
                Hop::Ingress,
            ),
            (
                span(
                    SERVICE_NAME,
                    Kind::Server,
                    &[("upstream_cluster", &adv)],
                    true,
                ),
                Hop::MeshRoute,
            ),
            (span(SERVICE_NAME, Kind::Server, &[], false), Hop::Ingress),
            (
                span(
                    "kyc-aggregator-mgt.default",
                    Kind::Server,
                    &[("kyc.hop", HOP_SIDECAR_INBOUND)],
                    true,
                ),
                Hop::SidecarInbound("kyc-aggregator-mgt".into()),
            ),
            (
                span(
                    "kyc-aggregator-mgt.default",
                    Kind::Server,
                    &[("kyc.hop", HOP_SIDECAR_OUTBOUND)],
                    true,
                ),
                Hop::SidecarOutbound("kyc-aggregator-mgt".into()),
            ),
            (
                span("kyc-aggregator-mgt", Kind::Server, &[], true),
                Hop::Service("kyc-aggregator-mgt".into()),
            ),
            (
                span("kyc-aggregator-mgt", Kind::Client, &[], true),
                Hop::Call("kyc-aggregator-mgt".into()),
            ),
            (span("someone-else", Kind::Server, &[], false), Hop::Other),
            (
                span(
                    "waypoint.default",
                    Kind::Server,
                    &[("kyc.hop", HOP_WAYPOINT)],
                    true,
                ),
                Hop::Waypoint("waypoint".into()),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(Hop::of(&s, &n), want, "{s:?}");
        }
        let attempt = span(
            SERVICE_NAME,
            Kind::Client,
            &[("upstream_cluster", &adv)],
            true,
        );
        assert_eq!(
            Hop::of(&attempt, &n).label(&attempt, &n),
            "gateway · mesh route → kyc-credit-check-advanced v2 (attempt)"
        );
        let waypoint = span(
            "waypoint.default",
            Kind::Server,
            &[("kyc.hop", HOP_WAYPOINT)],
            true,
        );
        assert_eq!(
            Hop::of(&waypoint, &n).label(&waypoint, &n),
            "waypoint · L7 route"
        );
        let attempt = span(
            "waypoint.default",
            Kind::Client,
            &[("kyc.hop", HOP_WAYPOINT), ("upstream_cluster", &adv)],
            true,
        );
        assert_eq!(
            Hop::of(&attempt, &n).label(&attempt, &n),
            "waypoint · L7 route → kyc-credit-check-advanced v2 (attempt)"
        );
        let scorer = span("kyc-credit-check-advanced", Kind::Server, &[], true);
        assert_eq!(
            Hop::of(&scorer, &n).label(&scorer, &n),
            "kyc-credit-check-advanced v2"
        );
    }
}
