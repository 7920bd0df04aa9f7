//! Typed Envoy v3 configuration: the output of `translate`, serialised once, at the edge
//! (the xDS files of `apply`, or `kyc-mesh render`).
//!
//! Only the fields the local mesh writes are modelled; every struct serialises to the
//! JSON Envoy reads. Values whose spelling matters to Envoy (durations, weights, cluster
//! and stat names) are types, so they are written the same way everywhere.

pub mod bootstrap;
pub mod cluster;
pub mod health;
pub mod limits;
pub mod listener;
pub mod names;
pub mod rbac;
pub mod route;
pub mod stats;
pub mod telemetry;
pub mod tls;
pub mod values;

pub use names::{ClusterName, Direction, ListenerKind, ListenerName, RouteConfigName, StatPrefix};
pub use values::{Duration, FractionalPercent, Weight};

use serde::{Serialize, Serializer};

/// A `google.protobuf.Any`: the message plus its `@type`. Envoy needs the type URL on
/// every xDS resource and every `typed_config`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Any<T> {
    #[serde(rename = "@type")]
    pub type_url: &'static str,
    #[serde(flatten)]
    pub value: T,
}

/// A message type with its fully qualified type URL.
pub trait Message {
    const TYPE_URL: &'static str;
}

impl<T: Message> Any<T> {
    pub fn new(value: T) -> Self {
        Any {
            type_url: T::TYPE_URL,
            value,
        }
    }
}

/// An extension whose configuration is empty: only its `@type` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty(pub &'static str);

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("@type", self.0)?;
        m.end()
    }
}

/// A named extension (`http_filters[]`, `retry_host_predicate[]`, resource monitors).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypedExtension<C> {
    pub name: &'static str,
    pub typed_config: C,
}

/// `envoy.config.core.v3.Address` on 127.0.0.1: everything in the local mesh is loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Address {
    pub socket_address: SocketAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SocketAddress {
    pub address: &'static str,
    pub port_value: u16,
}

impl Address {
    pub fn loopback(port: u16) -> Self {
        Address {
            socket_address: SocketAddress {
                address: "127.0.0.1",
                port_value: port,
            },
        }
    }
}
