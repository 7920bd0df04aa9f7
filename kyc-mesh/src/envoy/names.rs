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

/// An outbound cluster, named as istiod names it: `outbound|<port>|<subset>|<fqdn>`
/// (pilot/pkg/model `BuildSubsetKey`), e.g.
/// `outbound|8080|v1|kyc-credit-check-basic.default.svc.cluster.local`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterName {
    pub port: u16,
    /// Empty when the destination names no subset.
    pub subset: String,
    pub fqdn: String,
}

impl ClusterName {
    pub fn outbound(port: u16, subset: Option<&str>, fqdn: &str) -> Self {
        ClusterName {
            port,
            subset: subset.unwrap_or_default().to_string(),
            fqdn: fqdn.to_string(),
        }
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
        write!(f, "outbound|{}|{}|{}", self.port, self.subset, self.fqdn)
    }
}

/// A gateway listener, named by the port it stands for in Istio (`0.0.0.0_80`), whatever
/// local port it binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerName {
    pub istio_port: u16,
}

impl fmt::Display for ListenerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0.0.0.0_{}", self.istio_port)
    }
}

/// The HTTP connection manager's `stat_prefix`: `outbound_<listener name>`, as istiod
/// writes it for gateways. Every `http.*` stat of the listener starts with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatPrefix(pub ListenerName);

impl fmt::Display for StatPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "outbound_{}", self.0)
    }
}

impl StatPrefix {
    /// The admin stat prefix of one of this listener's HTTP stats, e.g.
    /// `http.outbound_0.0.0.0_80.fault` for the fault filter's counters.
    pub fn http(&self, suffix: &str) -> String {
        format!("http.{self}.{suffix}")
    }
}

/// A route configuration, named by port as istiod does for gateways (`http.80`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConfigName {
    pub istio_port: u16,
}

impl fmt::Display for RouteConfigName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http.{}", self.istio_port)
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
        let l = ListenerName { istio_port: 80 };
        assert_eq!(l.to_string(), "0.0.0.0_80");
        assert_eq!(
            StatPrefix(l).http("fault"),
            "http.outbound_0.0.0.0_80.fault"
        );
        assert_eq!(RouteConfigName { istio_port: 80 }.to_string(), "http.80");
    }
}
