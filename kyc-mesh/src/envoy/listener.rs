//! `envoy.config.listener.v3.Listener`: the gateway's HTTP listener and its connection
//! manager. The names Envoy's admin stats carry (stat prefix, RDS subscription) are
//! methods here, so whoever waits on a stat asks the listener instead of retyping it.

use serde::Serialize;

use super::config_source::ConfigSource;
use super::jwt_authn::{JwtAuthentication, JWT_AUTHN_FILTER};
use super::limits::{GatewayLimits, HcmLimits};
use super::route::RouteConfiguration;
use super::tls::{DownstreamTlsContext, SdsSources, TransportSocket};
use super::TypedExtension;
use super::{
    Address, Any, Empty, ListenerKind, ListenerName, Message, RouteConfigName, StatPrefix,
};

/// The HTTP fault filter's name: per-route fault config is keyed by it.
pub(crate) const FAULT_FILTER: &str = "envoy.filters.http.fault";
/// A sidecar inbound's RBAC filters, DENY before ALLOW as istiod orders them; each is
/// configured per route (`RBACPerRoute` in the inbound route table), so a policy edit is
/// an RDS update and no listener drains.
pub(crate) const RBAC_DENY_FILTER: &str = "envoy.filters.http.rbac.deny";
pub(crate) const RBAC_ALLOW_FILTER: &str = "envoy.filters.http.rbac.allow";
const RBAC_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";

/// What a sidecar's inbound accepts (PeerAuthentication's mode, resolved for its port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundMtls {
    /// mTLS only: a plaintext connection fails its TLS handshake.
    Strict,
    /// Both: `tls_inspector` sends TLS to a chain that terminates mTLS, the rest to plaintext.
    Permissive,
    /// Plaintext only.
    Disable,
}

/// What a proxy's HTTP listener is: its kind, the Istio port it stands for and the local
/// port it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpListener {
    pub kind: ListenerKind,
    pub istio_port: u16,
    pub local_port: u16,
    pub limits: GatewayLimits,
    /// A sidecar inbound's mTLS mode (None elsewhere, or without identities: plaintext).
    pub mtls: Option<InboundMtls>,
    /// A sidecar inbound's end-user token verification (RequestAuthentication); in the
    /// listener, as istiod has it: a change of issuers or keys is a listener update.
    pub(crate) jwt: Option<Box<JwtAuthentication>>,
}

/// An HTTP filter's `typed_config`: only its type, or the JWT filter's providers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum FilterConfig {
    Type(Empty),
    Jwt(Box<Any<JwtAuthentication>>),
}

impl HttpListener {
    /// Whether `other` verifies end-user tokens exactly as this listener does (the same JWT
    /// providers and keys). Route policies read what the JWT filter verified (request
    /// principals, claims), so a listener that changes this needs its own routes.
    pub(crate) fn same_token_verification(&self, other: &HttpListener) -> bool {
        self.jwt == other.jwt
    }

    pub(crate) fn name(&self) -> ListenerName {
        ListenerName {
            kind: self.kind,
            istio_port: self.istio_port,
        }
    }

    pub fn stat_prefix(&self) -> StatPrefix {
        StatPrefix(self.name())
    }

    pub(crate) fn route_config_name(&self) -> RouteConfigName {
        RouteConfigName {
            kind: self.kind,
            istio_port: self.istio_port,
        }
    }

    /// Admin stat prefix of this listener's RDS subscription (`…rds.http.80.update_success`).
    pub(crate) fn rds_stat(&self) -> String {
        self.stat_prefix()
            .http(&format!("rds.{}", self.route_config_name()))
    }

    /// The Envoy listener, with its routes inline or from RDS; a sidecar inbound with
    /// `tls` (its proxy's SDS secrets) terminates mTLS as its [`InboundMtls`] says.
    pub(crate) fn build(&self, routes: RouteSpecifier, tls: Option<&SdsSources>) -> Listener {
        let inbound = self.kind == ListenerKind::SidecarInbound;
        let typed = |name, type_url| TypedExtension {
            name,
            typed_config: FilterConfig::Type(Empty(type_url)),
        };
        let mut http_filters = Vec::new();
        if let (true, Some(jwt)) = (inbound, &self.jwt) {
            // Authentication before authorization: the RBAC filters match its payload.
            http_filters.push(TypedExtension {
                name: JWT_AUTHN_FILTER,
                typed_config: FilterConfig::Jwt(Box::new(Any::new((**jwt).clone()))),
            });
        }
        if inbound {
            // No rules here: enforcement comes from each route's RBACPerRoute.
            http_filters.push(typed(RBAC_DENY_FILTER, RBAC_TYPE));
            http_filters.push(typed(RBAC_ALLOW_FILTER, RBAC_TYPE));
        }
        http_filters.push(typed(
            FAULT_FILTER,
            "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        ));
        http_filters.push(typed(
            "envoy.filters.http.router",
            "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
        ));
        let mtls = match (self.mtls, tls) {
            (Some(mode), Some(sds)) if inbound => Some((mode, sds)),
            _ => None,
        };
        let hcm = |with_peer: bool| HttpConnectionManager {
            stat_prefix: self.stat_prefix(),
            // The gateway is the edge (it sets x-forwarded-for); sidecars are not, as in Istio.
            use_remote_address: self.kind == ListenerKind::Gateway,
            normalize_path: true,
            limits: self.limits.hcm(),
            http_filters: http_filters.clone(),
            // As istiod's inbound: the app sees the caller's identity in
            // x-forwarded-client-cert (any such header from the caller is replaced).
            forward_client_cert_details: inbound.then_some(if with_peer {
                "APPEND_FORWARD"
            } else {
                "SANITIZE"
            }),
            set_current_client_cert_details: with_peer.then_some(ClientCertDetails { uri: true }),
            tracing: None,
            access_log: Vec::new(),
            routes: routes.clone(),
        };
        let chain =
            |transport_protocol: Option<&'static str>, socket: Option<&SdsSources>| FilterChain {
                filter_chain_match: transport_protocol.map(|p| FilterChainMatch {
                    transport_protocol: p,
                }),
                transport_socket: socket.map(SdsSources::downstream),
                filters: vec![TypedExtension {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: Any::new(hcm(socket.is_some())),
                }],
            };
        let (listener_filters, filter_chains) = match mtls {
            None | Some((InboundMtls::Disable, _)) => (Vec::new(), vec![chain(None, None)]),
            Some((InboundMtls::Strict, sds)) => (Vec::new(), vec![chain(None, Some(sds))]),
            Some((InboundMtls::Permissive, sds)) => (
                vec![TypedExtension {
                    name: "envoy.filters.listener.tls_inspector",
                    typed_config: Empty("type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"),
                }],
                vec![chain(Some("tls"), Some(sds)), chain(Some("raw_buffer"), None)],
            ),
        };
        Listener {
            name: self.name(),
            address: Address::loopback(self.local_port),
            // A second mesh on the same port must fail to bind, not share it silently.
            enable_reuse_port: false,
            listener_filters,
            filter_chains,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Listener {
    pub(crate) name: ListenerName,
    pub(crate) address: Address,
    pub(crate) enable_reuse_port: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) listener_filters: Vec<TypedExtension<Empty>>,
    pub(crate) filter_chains: Vec<FilterChain>,
}

impl Message for Listener {
    const TYPE_URL: &'static str = "type.googleapis.com/envoy.config.listener.v3.Listener";
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FilterChain {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) filter_chain_match: Option<FilterChainMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transport_socket: Option<TransportSocket<DownstreamTlsContext>>,
    pub(crate) filters: Vec<TypedExtension<Any<HttpConnectionManager>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FilterChainMatch {
    /// `tls` or `raw_buffer`, as `tls_inspector` detects it.
    pub(crate) transport_protocol: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct ClientCertDetails {
    pub(crate) uri: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct HttpConnectionManager {
    pub(crate) stat_prefix: StatPrefix,
    pub(crate) use_remote_address: bool,
    pub(crate) normalize_path: bool,
    #[serde(flatten)]
    pub(crate) limits: HcmLimits,
    pub(crate) http_filters: Vec<TypedExtension<FilterConfig>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) forward_client_cert_details: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) set_current_client_cert_details: Option<ClientCertDetails>,
    /// Envoy's tracer (`up` with an OTLP endpoint: see `envoy::telemetry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tracing: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) access_log: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub(crate) routes: RouteSpecifier,
}

impl Message for HttpConnectionManager {
    const TYPE_URL: &'static str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
}

/// Routes inline (`render`'s static bootstrap) or from an RDS file (`up`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RouteSpecifier {
    Rds(Rds),
    RouteConfig(RouteConfiguration),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Rds {
    pub(crate) config_source: ConfigSource,
    pub(crate) route_config_name: RouteConfigName,
}
