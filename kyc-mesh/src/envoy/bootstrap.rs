//! `envoy.config.bootstrap.v3.Bootstrap`: static (what `render` prints) or pointing at
//! watched xDS files (what `up` starts Envoy with).

use serde::Serialize;

pub(crate) use super::config_source::ConfigSource;

use super::cluster::Cluster;
use super::listener::Listener;
use super::{Address, Any, Message, TypedExtension};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Bootstrap {
    pub(crate) node: Node,
    pub(crate) admin: Admin,
    pub(crate) stats_config: super::stats::StatsConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) overload_manager: Option<OverloadManager>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) static_resources: Option<StaticResources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dynamic_resources: Option<DynamicResources>,
}

/// Which proxy this is, as Envoy reports it (`server_info`, access logs): istiod's
/// `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local` for a sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) cluster: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Admin {
    pub(crate) address: Address,
    /// The admin port stays reachable (kyc-mesh confirms every reload on it) when the
    /// gateway is at its connection limit.
    pub(crate) ignore_global_conn_limit: bool,
}

impl Admin {
    pub(crate) fn loopback(port: u16) -> Self {
        Admin {
            address: Address::loopback(port),
            ignore_global_conn_limit: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StaticResources {
    pub(crate) listeners: Vec<Listener>,
    pub(crate) clusters: Vec<Cluster>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct DynamicResources {
    pub(crate) lds_config: ConfigSource,
    pub(crate) cds_config: ConfigSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct OverloadManager {
    pub(crate) resource_monitors: Vec<TypedExtension<Any<DownstreamConnectionsConfig>>>,
}

impl OverloadManager {
    /// Envoy warns at start-up without a global downstream connection limit.
    pub(crate) fn max_connections(max_active_downstream_connections: u64) -> Self {
        OverloadManager {
            resource_monitors: vec![TypedExtension {
                name: "envoy.resource_monitors.global_downstream_max_connections",
                typed_config: Any::new(DownstreamConnectionsConfig {
                    max_active_downstream_connections,
                }),
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct DownstreamConnectionsConfig {
    pub(crate) max_active_downstream_connections: u64,
}

impl Message for DownstreamConnectionsConfig {
    const TYPE_URL: &'static str = "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig";
}

/// The body of an xDS file: a version and the resources with their `@type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct DiscoveryResponse<T> {
    pub(crate) version_info: String,
    pub(crate) resources: Vec<Any<T>>,
}

impl<T: Message> DiscoveryResponse<T> {
    pub(crate) fn new(version: u64, resources: impl IntoIterator<Item = T>) -> Self {
        DiscoveryResponse {
            version_info: version.to_string(),
            resources: resources.into_iter().map(Any::new).collect(),
        }
    }
}
