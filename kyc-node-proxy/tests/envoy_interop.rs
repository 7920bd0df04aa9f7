//! HBONE interop with a real Envoy, both ways, so the protocol is Istio's and not only the
//! project's: Envoy originates HBONE (tcp_proxy `tunneling_config` over an HTTP/2 mTLS
//! cluster, as a waypoint does towards a workload) to the node proxy, and the node proxy
//! originates HBONE to an Envoy that terminates CONNECT (an HTTP/2 listener with
//! `allow_connect` and a `connect_matcher` route, as a waypoint's 15008 listener). Both
//! sides present SPIFFE certificates from the same mesh CA and check the other's URI SAN.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use common::*;

const WAYPOINT: &str = "waypoint";

fn socket(a: SocketAddr) -> Value {
    json!({"socket_address": {"address": a.ip().to_string(), "port_value": a.port()}})
}

fn tls_certificate(chain: &str, key: &str) -> Value {
    json!({"certificate_chain": {"filename": chain}, "private_key": {"filename": key}})
}

/// A validation context: the mesh root, and the peer's URI SAN must be `san`.
fn validation(root: &std::path::Path, san: &str) -> Value {
    json!({
        "trusted_ca": {"filename": root},
        "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": san}}]
    })
}

/// A listener on `at` that tunnels every connection as HBONE to `target` through `cluster`.
fn originating_listener(name: &str, at: SocketAddr, cluster: &str, target: SocketAddr) -> Value {
    json!({
        "name": name,
        "address": socket(at),
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": name,
                "cluster": cluster,
                "tunneling_config": {"hostname": target.to_string()}
            }
        }]}]
    })
}

/// An HTTP/2 mTLS cluster to an HBONE listener: Envoy's certificate (`chain`, `key`) and the
/// server's expected SAN.
fn hbone_cluster(
    name: &str,
    to: SocketAddr,
    root: &std::path::Path,
    chain: &str,
    key: &str,
    san: &str,
) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "5s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(to)}}]}]},
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        },
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "common_tls_context": {
                    "alpn_protocols": ["h2"],
                    "tls_certificates": [tls_certificate(chain, key)],
                    "validation_context": validation(root, san)
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_originates_hbone_to_the_node_proxy() {
    let Some(bin) = envoy() else { return };
    let ca = Ca::new();
    let (app, hits) = echo_app("basic").await;
    let (hbone, admin) = (addr(), addr());
    let (bc, bk) = ca.issue(BASIC, &spiffe(BASIC));
    let node = json!({
        "node": "node-1", "admin": admin, "trust_root": ca.root(),
        "workloads": [{"name": "basic-0", "workload": BASIC, "identity": spiffe(BASIC), "cert_chain": bc, "key": bk,
            "inbound": {"hbone": hbone, "app": [app], "policies": [
                {"name": "default/deny-load", "action": "DENY",
                 "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/load-generator"]}}]}]}
            ]}}]
    });
    let _node = start(node, ca.dir.path(), "node").await;

    let (wc, wk) = ca.issue(WAYPOINT, &spiffe(WAYPOINT));
    let (lc, lk) = ca.issue("load-generator", &spiffe("load-generator"));
    let (good, wrong_san, denied) = (addr(), addr(), addr());
    let bootstrap = json!({"static_resources": {
        "listeners": [
            originating_listener("good", good, "to_basic", app),
            originating_listener("wrong_san", wrong_san, "expects_other", app),
            originating_listener("denied", denied, "as_load_generator", app),
        ],
        "clusters": [
            hbone_cluster("to_basic", hbone, &ca.root(), &wc, &wk, &spiffe(BASIC)),
            hbone_cluster("expects_other", hbone, &ca.root(), &wc, &wk, &spiffe("someone-else")),
            hbone_cluster("as_load_generator", hbone, &ca.root(), &lc, &lk, &spiffe(BASIC)),
        ]
    }});
    let envoy = Envoy::start(&bin, ca.dir.path(), "envoy", bootstrap, 3).await;

    // Envoy → node proxy → app, and back.
    assert_eq!(
        exchange(good, "hello").await.as_deref(),
        Some("basic:hello")
    );
    let labels = [
        "reporter=\"destination\"",
        "source_principal=\"cluster.local/ns/default/sa/waypoint\"",
        "destination_principal=\"cluster.local/ns/default/sa/kyc-credit-check-basic\"",
        "connection_security_policy=\"mutual_tls\"",
    ];
    until_metrics(admin, |t| {
        sample(t, "istio_tcp_connections_opened_total", &labels) == 1.0
            && sample(t, "istio_tcp_received_bytes_total", &labels) == 5.0
    })
    .await;
    // Envoy checks the node proxy's SAN: a cluster expecting another identity fails.
    assert_eq!(exchange(wrong_san, "hello").await, None);
    envoy
        .until_stat("cluster.expects_other.ssl.fail_verify_san", 1)
        .await;
    // The node proxy's L4 DENY policy refuses Envoy's other identity.
    assert_eq!(exchange(denied, "hello").await, None);
    until_metrics(admin, |t| {
        sample(
            t,
            "kyc_node_proxy_connections_denied_total",
            &["policy=\"default/deny-load\""],
        ) == 1.0
    })
    .await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "only the good tunnel reached the app"
    );
}

/// An Envoy terminating HBONE on `at` with `cert`, accepting clients whose SAN is
/// `client_san`, CONNECT to `authority` only, delivered to `app`.
fn terminating_listener(
    at: SocketAddr,
    root: &std::path::Path,
    cert: (&str, &str),
    client_san: &str,
    authority: SocketAddr,
) -> Value {
    json!({
        "name": "hbone_terminate",
        "stat_prefix": "hbone_terminate",
        "address": socket(at),
        "filter_chains": [{
            "transport_socket": {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "require_client_certificate": true,
                    "common_tls_context": {
                        "alpn_protocols": ["h2"],
                        "tls_certificates": [tls_certificate(cert.0, cert.1)],
                        "validation_context": validation(root, client_san)
                    }
                }
            },
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "hbone_terminate",
                    "codec_type": "HTTP2",
                    "http2_protocol_options": {"allow_connect": true},
                    "upgrade_configs": [{"upgrade_type": "CONNECT"}],
                    "route_config": {"virtual_hosts": [{
                        "name": "app",
                        "domains": [authority.to_string()],
                        "routes": [{
                            "match": {"connect_matcher": {}},
                            "route": {"cluster": "app", "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}]}
                        }]
                    }]},
                    "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
                }
            }]
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_proxy_originates_hbone_to_an_envoy_that_terminates_connect() {
    let Some(bin) = envoy() else { return };
    let ca = Ca::new();
    let (app, hits) = echo_app("app").await;
    let hbone = addr();
    let (wc, wk) = ca.issue(WAYPOINT, &spiffe(WAYPOINT));
    let bootstrap = json!({"static_resources": {
        "listeners": [terminating_listener(hbone, &ca.root(), (&wc, &wk), &spiffe(CLIENT), app)],
        "clusters": [{
            "name": "app", "type": "STATIC", "connect_timeout": "5s",
            "load_assignment": {"cluster_name": "app", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(app)}}]}]}
        }]
    }});
    let envoy = Envoy::start(&bin, ca.dir.path(), "envoy", bootstrap, 1).await;

    // Three client workloads on one node: the expected one; one Envoy does not accept; one
    // that expects Envoy to be someone else.
    let (cc, ck) = ca.issue(CLIENT, &spiffe(CLIENT));
    let (ic, ik) = ca.issue("intruder", &spiffe("intruder"));
    let (good, refused_by_envoy, refused_by_us, wrong_authority, admin) =
        (addr(), addr(), addr(), addr(), addr());
    let endpoint = |target: SocketAddr, identity: &str| json!({"target": target, "workload": "envoy", "hbone": hbone, "identity": identity});
    let service = |host: &str, ep: Value| json!({"host": host, "port": 80, "endpoints": [ep]});
    let workload = |name: &str, sa: &str, chain: &str, key: &str, listen: SocketAddr, svc: &str| {
        json!({
            "name": name, "workload": name, "identity": spiffe(sa), "cert_chain": chain, "key": key,
            "outbound": [{"listen": listen, "service": format!("{svc}:80")}]
        })
    };
    let node = json!({
        "node": "node-1", "admin": admin, "trust_root": ca.root(),
        "workloads": [
            workload("agg", CLIENT, &cc, &ck, good, "app"),
            workload("intruder", "intruder", &ic, &ik, refused_by_envoy, "app"),
            workload("agg-2", CLIENT, &cc, &ck, refused_by_us, "impostor"),
            workload("agg-3", CLIENT, &cc, &ck, wrong_authority, "elsewhere"),
        ],
        "services": [
            service("app", endpoint(app, &spiffe(WAYPOINT))),
            service("impostor", endpoint(app, &spiffe("someone-else"))),
            service("elsewhere", endpoint(SocketAddr::from(([127, 0, 0, 1], 1)), &spiffe(WAYPOINT))),
        ]
    });
    let _node = start(node, ca.dir.path(), "node").await;

    // Node proxy → Envoy (CONNECT terminated, the authority routed) → app, and back.
    assert_eq!(exchange(good, "hello").await.as_deref(), Some("app:hello"));
    envoy
        .until_stat("http.hbone_terminate.downstream_rq_2xx", 1)
        .await;
    let labels = [
        "reporter=\"source\"",
        "source_principal=\"cluster.local/ns/default/sa/kyc-aggregator-mgt\"",
        "destination_principal=\"cluster.local/ns/default/sa/waypoint\"",
    ];
    until_metrics(admin, |t| {
        sample(t, "istio_tcp_connections_opened_total", &labels) == 1.0
    })
    .await;
    // Envoy checks our SAN: the intruder's handshake fails there.
    assert_eq!(exchange(refused_by_envoy, "hello").await, None);
    envoy
        .until_stat("listener.hbone_terminate.ssl.fail_verify_san", 1)
        .await;
    // We check Envoy's SAN: a service whose endpoint must be someone else is never reached,
    // the handshake aborted by our side (Envoy counts a connection error).
    let errors = "listener.hbone_terminate.ssl.connection_error";
    let before = envoy.stat(errors).await;
    assert_eq!(exchange(refused_by_us, "hello").await, None);
    envoy.until_stat(errors, before + 1).await;
    // Envoy routes by the CONNECT authority: another one is a 404 from Envoy.
    assert_eq!(exchange(wrong_authority, "hello").await, None);
    envoy
        .until_stat("http.hbone_terminate.downstream_rq_4xx", 1)
        .await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "only the good tunnel reached the app"
    );
}

/// An HTTP app answering every request `200 <name>`.
async fn http_app(name: &'static str) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let at = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let body = name;
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    at
}

/// The waypoint's shape, as kyc-mesh builds it: HBONE terminated (mTLS, CONNECT) into an
/// internal listener that applies the L7 routes (a 50/50 weighted split), whose clusters'
/// endpoints are internal addresses carrying the tunnel's destination and HBONE cluster in
/// their metadata; one internal listener originates HBONE from them to each endpoint's node
/// proxy. A node proxy on each side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waypoint_shaped_envoy_splits_http_between_node_proxies_over_hbone() {
    let Some(bin) = envoy() else { return };
    let ca = Ca::new();
    let (v1, v2) = (http_app("v1").await, http_app("v2").await);
    let (hbone_v1, hbone_v2, waypoint_hbone, outbound, admin_a, admin_b) =
        (addr(), addr(), addr(), addr(), addr(), addr());
    let (wc, wk) = ca.issue(WAYPOINT, &spiffe(WAYPOINT));
    let hbone_peer =
        |name: &str, to: SocketAddr, san: &str| hbone_cluster(name, to, &ca.root(), &wc, &wk, san);
    let internal_endpoint = |target: SocketAddr, peer: &str| {
        json!({"endpoint": {"address": {"envoy_internal_address": {"server_listener_name": "connect_originate", "endpoint_id": target.to_string()}}},
               "metadata": {"filter_metadata": {"tunnel": {"destination": target.to_string(), "cluster": peer}}}})
    };
    let internal_upstream = json!({
        "name": "envoy.transport_sockets.internal_upstream",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
            "passthrough_metadata": [{"kind": {"host": {}}, "name": "tunnel"}],
            "transport_socket": {"name": "envoy.transport_sockets.raw_buffer", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}
        }
    });
    let backend = |name: &str, endpoints: Vec<Value>| {
        json!({"name": name, "type": "STATIC", "connect_timeout": "5s",
               "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
               "transport_socket": internal_upstream.clone()})
    };
    let router = json!([{"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]);
    let downstream_tls = json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": true,
            "common_tls_context": {
                "alpn_protocols": ["h2"],
                "tls_certificates": [tls_certificate(&wc, &wk)],
                "validation_context": {"trusted_ca": {"filename": ca.root()}}
            }
        }
    });
    let bootstrap = json!({
        "bootstrap_extensions": [{"name": "envoy.bootstrap.internal_listener", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}],
        "static_resources": {
        "listeners": [
            {"name": "hbone", "stat_prefix": "hbone", "address": socket(waypoint_hbone),
             "filter_chains": [{"transport_socket": downstream_tls, "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "hbone", "codec_type": "HTTP2",
                    "http2_protocol_options": {"allow_connect": true},
                    "upgrade_configs": [{"upgrade_type": "CONNECT"}],
                    "route_config": {"virtual_hosts": [{"name": "services", "domains": ["kyc-credit-check.default.svc.cluster.local:8080"],
                        "routes": [{"match": {"connect_matcher": {}},
                                    "route": {"cluster": "main_internal", "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}]}}]}]},
                    "http_filters": router.clone()
                }}]}]},
            {"name": "main_internal", "internal_listener": {},
             "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "waypoint",
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                        {"match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
                            {"name": "v1", "weight": 50}, {"name": "v2", "weight": 50}]}}}]}]},
                    "http_filters": router.clone()
                }}]}]},
            {"name": "connect_originate", "internal_listener": {},
             "filter_chains": [{"filters": [
                {"name": "envoy.filters.network.set_filter_state", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config",
                    "on_new_connection": [{"object_key": "envoy.tcp_proxy.cluster",
                        "format_string": {"text_format_source": {"inline_string": "%DYNAMIC_METADATA(tunnel:cluster)%"}}}]}},
                {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    "stat_prefix": "connect_originate", "cluster": "unused",
                    "tunneling_config": {"hostname": "%DYNAMIC_METADATA(tunnel:destination)%"}}}
             ]}]}
        ],
        "clusters": [
            {"name": "main_internal", "type": "STATIC", "connect_timeout": "5s",
             "load_assignment": {"cluster_name": "main_internal", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"envoy_internal_address": {"server_listener_name": "main_internal"}}}}]}]}},
            backend("v1", vec![internal_endpoint(v1, "hbone|v1-0")]),
            backend("v2", vec![internal_endpoint(v2, "hbone|v2-0")]),
            hbone_peer("hbone|v1-0", hbone_v1, &spiffe(BASIC)),
            hbone_peer("hbone|v2-0", hbone_v2, &spiffe(ADVANCED)),
            {"name": "unused", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {"cluster_name": "unused", "endpoints": []}}
        ]
    }});
    let envoy = Envoy::start(&bin, ca.dir.path(), "waypoint", bootstrap, 3).await;

    // Node B: the two scorers' HBONE inbounds. Node A: the caller's outbound to the service,
    // which has a waypoint.
    let (bc, bk) = ca.issue(BASIC, &spiffe(BASIC));
    let (ac, ak) = ca.issue(ADVANCED, &spiffe(ADVANCED));
    let (cc, ck) = ca.issue(CLIENT, &spiffe(CLIENT));
    let node_b = json!({"node": "node-b", "admin": admin_b, "trust_root": ca.root(), "workloads": [
        {"name": "v1-0", "workload": BASIC, "identity": spiffe(BASIC), "cert_chain": bc, "key": bk,
         "inbound": {"hbone": hbone_v1, "app": [v1]}},
        {"name": "v2-0", "workload": ADVANCED, "identity": spiffe(ADVANCED), "cert_chain": ac, "key": ak,
         "inbound": {"hbone": hbone_v2, "app": [v2]}}]});
    let node_a = json!({"node": "node-a", "admin": admin_a, "trust_root": ca.root(),
        "workloads": [{"name": "agg-0", "workload": CLIENT, "identity": spiffe(CLIENT), "cert_chain": cc, "key": ck,
            "outbound": [{"listen": outbound, "service": "kyc-credit-check.default.svc.cluster.local:8080"}]}],
        "services": [{"host": "kyc-credit-check.default.svc.cluster.local", "port": 8080,
            "waypoint": {"hbone": waypoint_hbone, "identity": spiffe(WAYPOINT)}}]});
    let _b = start(node_b, ca.dir.path(), "node-b").await;
    let _a = start(node_a, ca.dir.path(), "node-a").await;

    // HTTP through the caller's node proxy → waypoint (split) → a scorer's node proxy → app.
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..40 {
        let answer = exchange(
            outbound,
            "GET /credit-check/report HTTP/1.1\r\nHost: kyc-credit-check:8080\r\n\r\n",
        )
        .await
        .expect("an answer");
        let body = answer
            .rsplit("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_string();
        *seen.entry(body).or_default() += 1;
    }
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["v1", "v2"],
        "{seen:?}"
    );
    assert!(seen.values().all(|n| *n >= 8), "roughly 50/50: {seen:?}");
    envoy.until_stat("cluster.v1.upstream_rq_2xx", 1).await;
    // Both scorers' node proxies saw the waypoint's identity.
    until_metrics(admin_b, |t| {
        sample(
            t,
            "istio_tcp_connections_opened_total",
            &[
                "source_principal=\"cluster.local/ns/default/sa/waypoint\"",
                "destination_workload=\"kyc-credit-check-basic\"",
            ],
        ) >= 1.0
            && sample(
                t,
                "istio_tcp_connections_opened_total",
                &[
                    "source_principal=\"cluster.local/ns/default/sa/waypoint\"",
                    "destination_workload=\"kyc-credit-check-advanced\"",
                ],
            ) >= 1.0
    })
    .await;
}
