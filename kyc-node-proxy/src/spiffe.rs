//! SPIFFE IDs as Istio uses them: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`.
//! The principal (what an AuthorizationPolicy names) is the ID without `spiffe://`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    uri: String,
    /// Byte offsets of the namespace and service account in `uri`.
    ns: (usize, usize),
    sa: (usize, usize),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SPIFFE ID of the form spiffe://<trust domain>/ns/<namespace>/sa/<service account>")]
pub struct NotSpiffe(pub String);

impl SpiffeId {
    pub fn parse(uri: &str) -> Result<SpiffeId, NotSpiffe> {
        let bad = || NotSpiffe(uri.to_string());
        let rest = uri.strip_prefix("spiffe://").ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [td, "ns", ns, "sa", sa] if !td.is_empty() && !ns.is_empty() && !sa.is_empty() => {
                let ns_start = "spiffe://".len() + td.len() + "/ns/".len();
                let sa_start = ns_start + ns.len() + "/sa/".len();
                Ok(SpiffeId {
                    uri: uri.to_string(),
                    ns: (ns_start, ns_start + ns.len()),
                    sa: (sa_start, sa_start + sa.len()),
                })
            }
            _ => Err(bad()),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `cluster.local/ns/<ns>/sa/<sa>`.
    pub fn principal(&self) -> &str {
        &self.uri["spiffe://".len()..]
    }

    pub fn namespace(&self) -> &str {
        &self.uri[self.ns.0..self.ns.1]
    }

    pub fn service_account(&self) -> &str {
        &self.uri[self.sa.0..self.sa.1]
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl<'de> Deserialize<'de> for SpiffeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SpiffeId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SpiffeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_an_istio_identity() {
        let id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/kyc-credit-check-basic")
            .expect("valid");
        assert_eq!(
            id.principal(),
            "cluster.local/ns/default/sa/kyc-credit-check-basic"
        );
        assert_eq!(id.namespace(), "default");
        assert_eq!(id.service_account(), "kyc-credit-check-basic");
    }

    #[test]
    fn other_uris_are_refused() {
        for bad in [
            "https://cluster.local/ns/default/sa/x",
            "spiffe://cluster.local/ns/default",
            "spiffe://cluster.local/ns//sa/x",
            "spiffe:///ns/a/sa/b",
            "spiffe://td/ns/a/sa/b/extra",
        ] {
            assert_eq!(SpiffeId::parse(bad), Err(NotSpiffe(bad.into())), "{bad}");
        }
    }
}
