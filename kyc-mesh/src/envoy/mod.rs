//! Typed Envoy v3 configuration: the output of `translate`, serialised once, at the edge
//! (the xDS files of `apply`, or `kyc-mesh render`).
//!
//! Only the fields the local mesh writes are modelled; every struct serialises to the
//! JSON Envoy reads. Values whose spelling matters to Envoy (durations, weights, cluster
//! and stat names) are types, so they are written the same way everywhere.

pub(crate) mod bootstrap;
pub(crate) mod cluster;
pub(crate) mod config_source;
pub(crate) mod hbone;
pub(crate) mod health;
pub(crate) mod jwt_authn;
pub(crate) mod limits;
pub(crate) mod listener;
pub(crate) mod matcher;
pub(crate) mod names;
pub(crate) mod rbac;
pub(crate) mod route;
pub(crate) mod stats;
pub(crate) mod telemetry;
pub(crate) mod tls;
pub(crate) mod values;

pub(crate) use names::{ClusterName, ListenerKind, ListenerName, RouteConfigName, StatPrefix};
pub(crate) use values::{Duration, FractionalPercent, Weight};

use serde::{Serialize, Serializer};

/// A `google.protobuf.Any`: the message plus its `@type`. Envoy needs the type URL on
/// every xDS resource and every `typed_config`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Any<T> {
    #[serde(rename = "@type")]
    pub(crate) type_url: &'static str,
    #[serde(flatten)]
    pub(crate) value: T,
}

/// A message type with its fully qualified type URL.
pub(crate) trait Message {
    const TYPE_URL: &'static str;
}

impl<T: Message> Any<T> {
    pub(crate) fn new(value: T) -> Self {
        Any {
            type_url: T::TYPE_URL,
            value,
        }
    }
}

/// An extension whose configuration is empty: only its `@type` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Empty(pub &'static str);

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
pub(crate) struct TypedExtension<C> {
    pub(crate) name: &'static str,
    pub(crate) typed_config: C,
}

/// `envoy.config.core.v3.Address` on 127.0.0.1: everything in the local mesh is loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Address {
    pub(crate) socket_address: SocketAddress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct SocketAddress {
    pub(crate) address: &'static str,
    pub(crate) port_value: u16,
}

impl Address {
    pub(crate) fn loopback(port: u16) -> Self {
        Address {
            socket_address: SocketAddress {
                address: "127.0.0.1",
                port_value: port,
            },
        }
    }
}
