//! `envoy.config.listener.v3.Listener`: the gateway's HTTP listener and its connection
//! manager. The names Envoy's admin stats carry (stat prefix, RDS subscription) are
//! methods here, so whoever waits on a stat asks the listener instead of retyping it.

use serde::Serialize;

use super::bootstrap::ConfigSource;
use super::limits::{GatewayLimits, HcmLimits};
use super::route::RouteConfiguration;
use super::TypedExtension;
use super::{
    Address, Any, Empty, ListenerKind, ListenerName, Message, RouteConfigName, StatPrefix,
};

/// The HTTP fault filter's name: per-route fault config is keyed by it.
pub const FAULT_FILTER: &str = "envoy.filters.http.fault";

/// What a proxy's HTTP listener is: its kind, the Istio port it stands for and the local
/// port it binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpListener {
    pub kind: ListenerKind,
    pub istio_port: u16,
    pub local_port: u16,
    pub limits: GatewayLimits,
}

impl HttpListener {
    pub fn name(&self) -> ListenerName {
        ListenerName {
            kind: self.kind,
            istio_port: self.istio_port,
        }
    }

    pub fn stat_prefix(&self) -> StatPrefix {
        StatPrefix(self.name())
    }

    pub fn route_config_name(&self) -> RouteConfigName {
        RouteConfigName {
            kind: self.kind,
            istio_port: self.istio_port,
        }
    }

    /// Admin stat prefix of this listener's RDS subscription (`…rds.http.80.update_success`).
    pub fn rds_stat(&self) -> String {
        self.stat_prefix()
            .http(&format!("rds.{}", self.route_config_name()))
    }

    /// The Envoy listener, with its routes inline or from RDS.
    pub fn build(&self, routes: RouteSpecifier) -> Listener {
        let hcm = HttpConnectionManager {
            stat_prefix: self.stat_prefix(),
            // The gateway is the edge (it sets x-forwarded-for); sidecars are not, as in Istio.
            use_remote_address: self.kind == ListenerKind::Gateway,
            normalize_path: true,
            limits: self.limits.hcm(),
            http_filters: vec![
                TypedExtension {
                    name: FAULT_FILTER,
                    typed_config: Empty(
                        "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                    ),
                },
                TypedExtension {
                    name: "envoy.filters.http.router",
                    typed_config: Empty(
                        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                    ),
                },
            ],
            tracing: None,
            access_log: Vec::new(),
            routes,
        };
        Listener {
            name: self.name(),
            address: Address::loopback(self.local_port),
            // A second mesh on the same port must fail to bind, not share it silently.
            enable_reuse_port: false,
            filter_chains: vec![FilterChain {
                filters: vec![TypedExtension {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: Any::new(hcm),
                }],
            }],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listener {
    pub name: ListenerName,
    pub address: Address,
    pub enable_reuse_port: bool,
    pub filter_chains: Vec<FilterChain>,
}

impl Message for Listener {
    const TYPE_URL: &'static str = "type.googleapis.com/envoy.config.listener.v3.Listener";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterChain {
    pub filters: Vec<TypedExtension<Any<HttpConnectionManager>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpConnectionManager {
    pub stat_prefix: StatPrefix,
    pub use_remote_address: bool,
    pub normalize_path: bool,
    #[serde(flatten)]
    pub limits: HcmLimits,
    pub http_filters: Vec<TypedExtension<Empty>>,
    /// Envoy's tracer (`up` with an OTLP endpoint: see `envoy::telemetry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_log: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub routes: RouteSpecifier,
}

impl Message for HttpConnectionManager {
    const TYPE_URL: &'static str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
}

/// Routes inline (`render`'s static bootstrap) or from an RDS file (`up`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSpecifier {
    Rds(Rds),
    RouteConfig(RouteConfiguration),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rds {
    pub config_source: ConfigSource,
    pub route_config_name: RouteConfigName,
}
