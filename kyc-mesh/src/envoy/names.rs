//! Names Envoy and istiod agree on. Built from their parts, never typed as strings, so a
//! cluster name, a listener's stat prefix and the admin stats derived from them cannot
//! drift apart.

use std::fmt;

use serde::{Serialize, Serializer};

/// Names serialise as Envoy reads them: their `Display` form.
macro_rules! serialize_as_display {
    ($($t:ty),+) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )+};
}

serialize_as_display!(ClusterName, ListenerName, StatPrefix, RouteConfigName);

/// Which way a cluster or listener faces, as istiod's names say it (`model.TrafficDirection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Direction {
    Outbound,
    /// A sidecar's own workload, behind it (`inbound|8080||`).
    Inbound,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// A cluster, named as istiod names it: `<direction>|<port>|<subset>|<fqdn>`
/// (pilot/pkg/model `BuildSubsetKey`), e.g.
/// `outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local`, or a sidecar's
/// inbound cluster `inbound|8080||` (subset and host empty, as istiod writes them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClusterName {
    pub(crate) direction: Direction,
    pub(crate) port: u16,
    /// Empty when the destination names no subset.
    pub(crate) subset: String,
    pub(crate) fqdn: String,
}

impl ClusterName {
    pub(crate) fn outbound(port: u16, subset: Option<&str>, fqdn: &str) -> Self {
        ClusterName {
            direction: Direction::Outbound,
            port,
            subset: subset.unwrap_or_default().to_string(),
            fqdn: fqdn.to_string(),
        }
    }

    /// A sidecar's cluster for its own workload's container port.
    pub(crate) fn inbound(port: u16) -> Self {
        ClusterName {
            direction: Direction::Inbound,
            port,
            subset: String::new(),
            fqdn: String::new(),
        }
    }

    pub(crate) fn is_inbound(&self) -> bool {
        self.direction == Direction::Inbound
    }
}

/// Ordered by the name Envoy sees, so CDS lists clusters as `outbound|…` strings sort.
impl Ord for ClusterName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_string().cmp(&other.to_string())
    }
}

impl PartialOrd for ClusterName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.direction.as_str();
        write!(f, "{d}|{}|{}|{}", self.port, self.subset, self.fqdn)
    }
}

/// What a listener is for: istiod names each kind differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListenerKind {
    /// The ingress gateway's port (`0.0.0.0_80`, routes `http.80`).
    Gateway,
    /// A sidecar's inbound (`virtualInbound`, stat prefix `inbound_0.0.0.0_8080`, routes
    /// `inbound|8080||`): what iptables sends every call into the pod to.
    SidecarInbound,
    /// A sidecar's outbound (`0.0.0.0_8080`, routes `8080`): what iptables sends the
    /// app's own calls to.
    SidecarOutbound,
}

/// A listener, named by the port it stands for in Istio (`0.0.0.0_80`), whatever local
/// port it binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerName {
    pub kind: ListenerKind,
    pub istio_port: u16,
}

impl fmt::Display for ListenerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ListenerKind::SidecarInbound => write!(f, "virtualInbound"),
            _ => write!(f, "0.0.0.0_{}", self.istio_port),
        }
    }
}

/// The HTTP connection manager's `stat_prefix`: `outbound_0.0.0.0_<port>` (gateway and
/// sidecar outbound) or `inbound_0.0.0.0_<port>`, as istiod writes it. Every `http.*`
/// stat of the listener starts with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatPrefix(pub ListenerName);

impl fmt::Display for StatPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let way = match self.0.kind {
            ListenerKind::SidecarInbound => "inbound",
            _ => "outbound",
        };
        write!(f, "{way}_0.0.0.0_{}", self.0.istio_port)
    }
}

impl StatPrefix {
    /// The admin stat prefix of one of this listener's HTTP stats, e.g.
    /// `http.outbound_0.0.0.0_80.fault` for the fault filter's counters.
    pub fn http(&self, suffix: &str) -> String {
        format!("http.{self}.{suffix}")
    }
}

/// A route configuration, named by port as istiod does: `http.80` (gateway), `8080`
/// (sidecar outbound), `inbound|8080||` (sidecar inbound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteConfigName {
    pub(crate) kind: ListenerKind,
    pub(crate) istio_port: u16,
}

impl fmt::Display for RouteConfigName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.istio_port;
        match self.kind {
            ListenerKind::Gateway => write!(f, "http.{p}"),
            ListenerKind::SidecarOutbound => write!(f, "{p}"),
            ListenerKind::SidecarInbound => write!(f, "inbound|{p}||"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_spelled_as_istiod_spells_them() {
        let c = ClusterName::outbound(
            8080,
            Some("v1"),
            "kyc-credit-check-basic.default.svc.cluster.local",
        );
        assert_eq!(
            c.to_string(),
            "outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local"
        );
        assert_eq!(
            ClusterName::outbound(8080, None, "a.b").to_string(),
            "outbound|8080||a.b"
        );
        assert_eq!(ClusterName::inbound(8080).to_string(), "inbound|8080||");
        let gw = ListenerKind::Gateway;
        let l = ListenerName {
            kind: gw,
            istio_port: 80,
        };
        assert_eq!(l.to_string(), "0.0.0.0_80");
        assert_eq!(
            StatPrefix(l).http("fault"),
            "http.outbound_0.0.0.0_80.fault"
        );
        let route = |kind| RouteConfigName {
            kind,
            istio_port: 8080,
        };
        assert_eq!(route(gw).to_string(), "http.8080");
        assert_eq!(route(ListenerKind::SidecarOutbound).to_string(), "8080");
        assert_eq!(
            route(ListenerKind::SidecarInbound).to_string(),
            "inbound|8080||"
        );
        let inbound = ListenerName {
            kind: ListenerKind::SidecarInbound,
            istio_port: 8080,
        };
        assert_eq!(inbound.to_string(), "virtualInbound");
        assert_eq!(StatPrefix(inbound).to_string(), "inbound_0.0.0.0_8080");
    }
}
