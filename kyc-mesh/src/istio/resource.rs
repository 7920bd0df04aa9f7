//! The header every Kubernetes kind shares (`apiVersion`, `kind`, `metadata`) around its
//! `spec`: one generic type, so each kind only declares its spec
//! (`type VirtualService = Resource<VirtualServiceSpec>`). Read strictly, like the specs: a
//! field beside these four is refused, naming it.

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;

use super::Metadata;

/// One object of a kind whose spec is `S`.
#[derive(Debug, Clone)]
pub(crate) struct Resource<S> {
    #[allow(dead_code)] // as written; the loader chose the kind by them
    pub(crate) api_version: String,
    #[allow(dead_code)] // as written; the loader chose the kind by them
    pub(crate) kind: String,
    pub(crate) metadata: Metadata,
    pub(crate) spec: S,
}

/// A kind's spec: whether an object may leave it out (Istio's security kinds may: an
/// AuthorizationPolicy without a spec denies everything).
pub(crate) trait Spec: DeserializeOwned {
    /// The spec of an object that has none; `None`: `spec` is required.
    fn absent() -> Option<Self> {
        None
    }
}

/// The header as read, with the spec possibly absent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: DeserializeOwned"))]
struct Header<S> {
    api_version: String,
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: Given<S>,
}

/// A spec that was given (even as `null`, which its own type reads or refuses), or not.
#[derive(Default)]
enum Given<S> {
    #[default]
    Absent,
    Spec(S),
}

impl<'de, S: DeserializeOwned> Deserialize<'de> for Given<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        S::deserialize(d).map(Given::Spec)
    }
}

impl<'de, S: Spec> Deserialize<'de> for Resource<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let h = Header::<S>::deserialize(d)?;
        let spec = match h.spec {
            Given::Spec(s) => s,
            Given::Absent => S::absent().ok_or_else(|| D::Error::missing_field("spec"))?,
        };
        Ok(Resource {
            api_version: h.api_version,
            kind: h.kind,
            metadata: h.metadata,
            spec,
        })
    }
}
