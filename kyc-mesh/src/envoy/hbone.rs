//! HBONE in Envoy, as a waypoint speaks it (istio.io "HBONE"; Istio's waypoint listeners):
//! a listener that terminates mTLS + HTTP/2 CONNECT and hands each tunnel, by its authority
//! (a Service's `host:port`), to that Service's internal listener, where the L7 routes
//! apply; clusters whose endpoints are internal addresses carrying the tunnel's destination
//! (the app's address) and the HBONE peer (the node proxy's inbound for that instance) in
//! their metadata; and one internal listener, `connect_originate`, that opens the tunnel
//! (`set_filter_state` picks the peer's cluster, `tcp_proxy` `tunneling_config` sends the
//! CONNECT). Certificates are files the mesh CA issued; every peer's SPIFFE URI SAN is
//! checked. Proven against Envoy by `kyc-node-proxy/tests/envoy_interop.rs`.
//!
//! Built as JSON (`serde_json::Value`): the shapes are fixed, only names and ports vary.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::listener::{FAULT_FILTER, RBAC_ALLOW_FILTER, RBAC_DENY_FILTER};
use super::rbac::Rbac;

const RBAC_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";

/// The internal listener that originates HBONE.
pub(crate) const CONNECT_ORIGINATE: &str = "connect_originate";
/// The metadata namespace of a tunnel endpoint (passed to `connect_originate`).
const TUNNEL: &str = "tunnel";

/// A proxy's certificate, key and the mesh root (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) chain: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) root: PathBuf,
}

fn socket(port: u16) -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": port}})
}

fn common_tls(files: &TlsFiles, peer_sans: &[String]) -> Value {
    let mut validation = json!({"trusted_ca": {"filename": files.root}});
    if !peer_sans.is_empty() {
        validation["match_typed_subject_alt_names"] = peer_sans
            .iter()
            .map(|san| json!({"san_type": "URI", "matcher": {"exact": san}}))
            .collect();
    }
    json!({
        "alpn_protocols": ["h2"],
        "tls_certificates": [{"certificate_chain": {"filename": files.chain}, "private_key": {"filename": files.key}}],
        "validation_context": validation
    })
}

/// The internal listener's HTTP filters: RBAC (DENY, then ALLOW, when policies apply), the
/// fault filter the routes configure, the router.
fn http_filters(deny: Option<&Rbac>, allow: Option<&Rbac>) -> Value {
    let mut filters = Vec::new();
    for (name, rbac) in [(RBAC_DENY_FILTER, deny), (RBAC_ALLOW_FILTER, allow)] {
        if let Some(rbac) = rbac {
            let mut config = serde_json::to_value(rbac).unwrap_or_default();
            config["@type"] = json!(RBAC_TYPE);
            filters.push(json!({"name": name, "typed_config": config}));
        }
    }
    filters.push(json!({"name": FAULT_FILTER, "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}}));
    filters.push(json!({"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}));
    Value::Array(filters)
}

/// The bootstrap extension internal listeners need.
pub(crate) fn bootstrap_extensions() -> Value {
    json!([{"name": "envoy.bootstrap.internal_listener", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}])
}

/// The HBONE listener on `port`: mTLS with `files` (any mesh identity may connect: policy
/// is the routes' business), HTTP/2 CONNECT only; each `(authorities, internal listener)`
/// takes the tunnels whose authority is one of `authorities`; any other gets 404. The peer's
/// SPIFFE ID goes with each tunnel to the internal listener, in the filter state under
/// `peer_key` (its RBAC matches it there).
pub(crate) fn terminating_listener(
    port: u16,
    files: &TlsFiles,
    vips: &[(Vec<String>, String)],
    peer_key: &str,
) -> Value {
    let virtual_hosts: Vec<Value> = vips
        .iter()
        .map(|(domains, listener)| {
            json!({"name": listener, "domains": domains, "routes": [{
                "match": {"connect_matcher": {}},
                "route": {"cluster": listener, "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}]}
            }]})
        })
        .collect();
    json!({
        "name": "hbone",
        "stat_prefix": "hbone",
        "address": socket(port),
        "filter_chains": [{
            "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                "require_client_certificate": true,
                "common_tls_context": common_tls(files, &[])
            }},
            "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "hbone",
                "codec_type": "HTTP2",
                "http2_protocol_options": {"allow_connect": true},
                "upgrade_configs": [{"upgrade_type": "CONNECT"}],
                "route_config": {"name": "hbone", "virtual_hosts": virtual_hosts},
                "http_filters": [
                    {"name": "envoy.filters.http.set_filter_state", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config",
                        "on_request_headers": [{
                            "object_key": peer_key,
                            "factory_key": "envoy.string",
                            "format_string": {"text_format_source": {"inline_string": "%DOWNSTREAM_PEER_URI_SAN%"}},
                            "shared_with_upstream": "ONCE"
                        }]}},
                    {"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
                ]
            }}]
        }]
    })
}

/// A Service's internal listener `name`: HTTP with the routes of RDS file `rds` (its route
/// configuration is named `name` too: [`route_configuration`]) and the RBAC of the policies
/// attached to it. The routes change at run time (a weight override, an edit); the rest is
/// fixed at start.
pub(crate) fn internal_http_listener(
    name: &str,
    rds: &std::path::Path,
    deny: Option<&Rbac>,
    allow: Option<&Rbac>,
) -> Value {
    let source = serde_json::to_value(crate::envoy::config_source::ConfigSource::watched_file(
        rds, RDS_FILE,
    ))
    .unwrap_or_default();
    json!({
        "name": name,
        "internal_listener": {},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "normalize_path": true,
            "rds": {"route_config_name": name, "config_source": source},
            "http_filters": http_filters(deny, allow)
        }}]}]
    })
}

/// The file (in its own watched directory) a Service's internal listener takes its routes from.
pub(crate) const RDS_FILE: &str = "rds.json";

/// The RDS file's content: version `version` of route configuration `name`, one virtual host
/// with `routes` (Envoy routes, in order; the Service is known from the CONNECT).
pub(crate) fn route_configuration(name: &str, version: u64, routes: Vec<Value>) -> Value {
    json!({
        "version_info": version.to_string(),
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
            "name": name,
            "virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}]
        }]
    })
}

/// The admin stat prefix of that RDS subscription (`…update_success` moves when Envoy took a
/// new file).
pub(crate) fn rds_stat(name: &str) -> String {
    format!("http.{name}.rds.{name}")
}

/// The cluster that reaches internal listener `name` (the tunnels a CONNECT terminated).
pub(crate) fn internal_cluster(name: &str) -> Value {
    json!({
        "name": name, "type": "STATIC", "connect_timeout": "5s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"envoy_internal_address": {"server_listener_name": name}}}}]}]},
        "transport_socket": internal_upstream()
    })
}

/// The internal listener that opens a tunnel: the peer's cluster and the CONNECT authority
/// come from the endpoint's metadata.
pub(crate) fn originating_listener() -> Value {
    json!({
        "name": CONNECT_ORIGINATE,
        "internal_listener": {},
        "filter_chains": [{"filters": [
            {"name": "envoy.filters.network.set_filter_state", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config",
                "on_new_connection": [{"object_key": "envoy.tcp_proxy.cluster",
                    "format_string": {"text_format_source": {"inline_string": format!("%DYNAMIC_METADATA({TUNNEL}:cluster)%")}}}]}},
            {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": CONNECT_ORIGINATE,
                "cluster": CONNECT_ORIGINATE,
                "tunneling_config": {"hostname": format!("%DYNAMIC_METADATA({TUNNEL}:destination)%")}}}
        ]}]
    })
}

/// The placeholder cluster `connect_originate`'s `tcp_proxy` names (each connection's
/// filter state names the real one).
pub(crate) fn originating_placeholder() -> Value {
    json!({"name": CONNECT_ORIGINATE, "type": "STATIC", "connect_timeout": "1s",
           "load_assignment": {"cluster_name": CONNECT_ORIGINATE, "endpoints": []}})
}

/// The HTTP/2 mTLS cluster `name` to an HBONE peer on `port`, which must present `san`.
pub(crate) fn peer_cluster(name: &str, port: u16, files: &TlsFiles, san: &str) -> Value {
    json!({
        "name": name, "type": "STATIC", "connect_timeout": "5s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(port)}}]}]},
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": common_tls(files, &[san.to_string()])
        }}
    })
}

/// One endpoint reached through a tunnel: the app on `target`, through the peer cluster
/// `peer`.
pub(crate) fn tunnel_endpoint(target: u16, peer: &str) -> Value {
    let destination = format!("127.0.0.1:{target}");
    json!({
        "endpoint": {"address": {"envoy_internal_address": {"server_listener_name": CONNECT_ORIGINATE, "endpoint_id": destination}}},
        "metadata": {"filter_metadata": {TUNNEL: {"destination": destination, "cluster": peer}}}
    })
}

/// The transport of a cluster whose endpoints are tunnels: their metadata passed on.
pub(crate) fn internal_upstream() -> Value {
    json!({
        "name": "envoy.transport_sockets.internal_upstream",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
            "passthrough_metadata": [{"kind": {"host": {}}, "name": TUNNEL}],
            "transport_socket": {"name": "envoy.transport_sockets.raw_buffer", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}
        }
    })
}
