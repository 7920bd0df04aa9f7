//! Envoy's own telemetry on the local mesh: spans to the services' OTLP collector (Envoy's OpenTelemetry
//! tracer: to `up`'s own receiver, or where `OTEL_EXPORTER_OTLP_ENDPOINT` or `..._TRACES_ENDPOINT`
//! says), each listener's spans tagged with its hop (`kyc.hop`) and an upstream span per attempt; an
//! access log on stdout (`up --access-log`) whose format carries the path without its query string,
//! the trace id and never a body; and the same line to `up`'s receiver (Envoy's OpenTelemetry access
//! logger, over gRPC), where the dashboard shows it beside its span.

use reqwest::Url;
use serde_json::{json, Value};

use super::listener::{HttpConnectionManager, Listener};

/// The HTTP connection manager's filter name.
const HCM: &str = "envoy.filters.network.http_connection_manager";
/// The static cluster Envoy's tracer sends spans through.
pub(crate) const COLLECTOR_CLUSTER: &str = "opentelemetry_collector";
/// What the gateway's spans are attributed to (a sidecar's: its node cluster, `<workload>.<ns>`,
/// as Istio names a sidecar's spans).
pub(crate) const SERVICE_NAME: &str = "istio-ingressgateway";
/// One line per request: no query string (`%PATH(NQ:ORIG_OR_PATH)%`: the original path, no query), no body, no header but the ids.
pub(crate) const ACCESS_LOG_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %PATH(NQ:ORIG_OR_PATH)% %PROTOCOL%\" \
%RESPONSE_CODE% %RESPONSE_FLAGS% %DURATION%ms upstream=%UPSTREAM_CLUSTER% served_by=%RESP(X-KYC-SERVED-BY)% request_id=%REQ(X-REQUEST-ID)% \
trace_id=%TRACE_ID%\n";
/// The static cluster of `up`'s receiver over gRPC (Envoy's OpenTelemetry access logger).
pub(crate) const LOG_RECEIVER_CLUSTER: &str = "kyc_mesh_otlp_grpc";
/// The access logger's log name: the receiver keeps only lines with it.
pub(crate) const ACCESS_LOG_NAME: &str = "kyc-mesh-access";
/// The `kyc.hop` tag of each listener's spans (see `traces::hop`).
pub(crate) const HOP_GATEWAY: &str = "gateway";
pub(crate) const HOP_SIDECAR_INBOUND: &str = "sidecar-inbound";
pub(crate) const HOP_SIDECAR_OUTBOUND: &str = "sidecar-outbound";
/// Ambient mode: a waypoint's L7 listeners (one span per request, as Istio's waypoint makes).
pub(crate) const HOP_WAYPOINT: &str = "waypoint";
/// How often Envoy's tracer sends its spans to `up`'s receiver (Envoy's default: 5 s): the
/// dashboard shows a request's trace within about a second.
const FLUSH_INTERVAL_MS: u64 = 500;
/// ... or as soon as it holds this many (Envoy's default, 5, makes one export per 5 spans: under
/// load, thousands of small requests a second to the receiver; see BENCHMARKS.md).
const MIN_FLUSH_SPANS: u64 = 1_000;
/// The access logger's buffer (Envoy's default: 16 KiB, about 60 lines), flushed at least
/// every [`FLUSH_INTERVAL_MS`].
const LOG_BUFFER_BYTES: u64 = 256 << 10;

/// A collector address in `OTEL_EXPORTER_OTLP_*` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCollector {
    #[error("OTEL_EXPORTER_OTLP_ENDPOINT {raw:?}: {error}")]
    Url { raw: String, error: String },
    #[error("{0:?} names no host")]
    NoHost(String),
    #[error("{0:?} names no port")]
    NoPort(String),
}

/// Where spans go: the collector's address, and its protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Collector {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Empty for gRPC; the OTLP/HTTP path (`/v1/traces`) otherwise.
    pub(crate) http_path: Option<String>,
    pub(crate) uri: String,
}

impl Collector {
    /// `up`'s own receiver: OTLP/HTTP on 127.0.0.1:`port`.
    pub(crate) fn local(port: u16) -> Collector {
        Collector {
            host: "127.0.0.1".into(),
            port,
            http_path: Some("/v1/traces".into()),
            uri: format!("http://127.0.0.1:{port}/v1/traces"),
        }
    }

    /// The base URL the services' `OTEL_EXPORTER_OTLP_ENDPOINT` names.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// From the standard variables (`var` reads one); `None` when traces are off, `Err` for a bad URL.
    pub(crate) fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Option<Result<Collector, BadCollector>> {
        let grpc = var("OTEL_EXPORTER_OTLP_PROTOCOL").is_some_and(|p| p.trim() == "grpc");
        let (raw, full) =
            match var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.trim().is_empty()) {
                Some(url) => (url, true),
                None => (
                    var("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.trim().is_empty())?,
                    false,
                ),
            };
        let parsed = Url::parse(raw.trim()).map_err(|e| BadCollector::Url {
            raw: raw.clone(),
            error: e.to_string(),
        });
        Some(parsed.and_then(|url| {
            let host = url
                .host_str()
                .ok_or_else(|| BadCollector::NoHost(raw.clone()))?
                .to_owned();
            let port = url
                .port_or_known_default()
                .ok_or_else(|| BadCollector::NoPort(raw.clone()))?;
            let http_path = (!grpc).then(|| {
                if full {
                    url.path().to_owned()
                } else {
                    format!("{}/v1/traces", url.path().trim_end_matches('/'))
                }
            });
            let uri = format!("http://{host}:{port}{}", http_path.as_deref().unwrap_or(""));
            Ok(Collector {
                host,
                port,
                http_path,
                uri,
            })
        }))
    }

    /// The HTTP connection manager's `tracing`: Envoy's OpenTelemetry tracer, every request
    /// sampled, the listener's hop as a tag, one more span per upstream attempt (retries show).
    fn tracing(&self, service_name: &str, hop: &str) -> Value {
        let transport = match &self.http_path {
            Some(_) => json!({"http_service": {"http_uri": {
                "uri": self.uri, "cluster": COLLECTOR_CLUSTER, "timeout": "1s"}}}),
            None => json!({"grpc_service": {
                "envoy_grpc": {"cluster_name": COLLECTOR_CLUSTER}, "timeout": "1s"}}),
        };
        let mut config = json!({
            "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
            "service_name": service_name,
        });
        if let (Some(c), Some(t)) = (config.as_object_mut(), transport.as_object()) {
            c.extend(t.clone());
        }
        json!({
            "provider": {"name": "envoy.tracers.opentelemetry", "typed_config": config},
            "custom_tags": [{"tag": "kyc.hop", "literal": {"value": hop}}],
            "spawn_upstream_span": true,
        })
    }

    /// The static cluster of the collector (HTTP/2 for gRPC).
    pub(crate) fn cluster(&self) -> Value {
        let mut cluster = json!({
            "name": COLLECTOR_CLUSTER,
            "type": "STRICT_DNS",
            "connect_timeout": "1s",
            "load_assignment": {"cluster_name": COLLECTOR_CLUSTER, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": self.host, "port_value": self.port}}}}]}]},
        });
        if self.http_path.is_none() {
            cluster["typed_extension_protocol_options"] = json!({
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}}}});
        }
        cluster
    }
}

/// What `up` adds to every Envoy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Telemetry {
    pub(crate) collector: Option<Collector>,
    pub(crate) access_log: bool,
    /// The gRPC port of `up`'s receiver: every request's access-log line goes there too.
    pub(crate) log_receiver: Option<u16>,
}

impl Telemetry {
    fn decorate_hcm(&self, hcm: &mut HttpConnectionManager, service_name: &str, hop: &str) {
        hcm.tracing = self
            .collector
            .as_ref()
            .map(|c| c.tracing(service_name, hop));
        hcm.access_log = self.access_logs();
    }

    /// The access loggers of every HTTP connection manager: stdout (`up --access-log`), and
    /// `up`'s receiver.
    fn access_logs(&self) -> Vec<Value> {
        let mut logs = Vec::new();
        if self.access_log {
            logs.push(json!({"name": "envoy.access_loggers.stdout", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                "log_format": {"text_format_source": {"inline_string": ACCESS_LOG_FORMAT}}}}));
        }
        if self.log_receiver.is_some() {
            let line = ACCESS_LOG_FORMAT.trim_end();
            // Not the probes (untraced: their lines would wait for a trace that never comes).
            let not_probes = json!({"header_filter": {"header": {"name": ":path",
                "string_match": {"safe_regex": {"regex": "^/(readyz|healthz)([?#].*)?$"}},
                "invert_match": true}}});
            logs.push(json!({"name": "envoy.access_loggers.open_telemetry", "filter": not_probes, "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig",
                "common_config": {
                    "log_name": ACCESS_LOG_NAME,
                    "transport_api_version": "V3",
                    "buffer_size_bytes": LOG_BUFFER_BYTES,
                    "buffer_flush_interval": format!("{}s", FLUSH_INTERVAL_MS as f64 / 1000.0),
                    "grpc_service": {"envoy_grpc": {"cluster_name": LOG_RECEIVER_CLUSTER}, "timeout": "1s"}},
                "body": {"string_value": line},
                "attributes": {"values": [
                    {"key": "upstream_cluster", "value": {"string_value": "%UPSTREAM_CLUSTER%"}}]}}}));
        }
        logs
    }

    /// A waypoint's static bootstrap (JSON, `envoy::hbone`), as `up` builds it in ambient
    /// mode: tracing and access log on each internal HTTP listener (where the L7 routes apply:
    /// one span per request, hop [`HOP_WAYPOINT`], and one per upstream attempt, attributed
    /// to the waypoint's node cluster `<name>.<namespace>`, as Istio names it), none on the
    /// HBONE listener (a span per tunnel is no request's); the collector's and the receiver's
    /// clusters beside its own; the tracer's flush. Nothing when telemetry is off.
    pub(crate) fn decorate_waypoint(&self, mut bootstrap: Value, name: &str, ns: &str) -> Value {
        let service_name = format!("{name}.{ns}");
        let tracing = self
            .collector
            .as_ref()
            .map(|c| c.tracing(&service_name, HOP_WAYPOINT));
        let logs = self.access_logs();
        if tracing.is_none() && logs.is_empty() {
            return bootstrap;
        }
        let resources = &mut bootstrap["static_resources"];
        let internal = resources["listeners"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .filter(|l| l.get("internal_listener").is_some());
        for listener in internal {
            let chains = listener["filter_chains"]
                .as_array_mut()
                .into_iter()
                .flatten();
            for filter in chains.flat_map(|c| c["filters"].as_array_mut().into_iter().flatten()) {
                if filter["name"] != HCM {
                    continue;
                }
                let hcm = &mut filter["typed_config"];
                if let Some(t) = &tracing {
                    hcm["tracing"] = t.clone();
                }
                if !logs.is_empty() {
                    hcm["access_log"] = Value::Array(logs.clone());
                }
            }
        }
        if let Some(clusters) = resources["clusters"].as_array_mut() {
            clusters.extend(self.static_clusters());
        }
        if let Some(runtime) = self.runtime() {
            bootstrap["layered_runtime"] = runtime;
        }
        bootstrap
    }

    /// Tracing and access log on every HTTP connection manager of `listener`; spans are
    /// attributed to `service_name` (the proxy's node cluster) and tagged with `hop`.
    pub(crate) fn decorate(&self, listener: &mut Listener, service_name: &str, hop: &str) {
        for chain in &mut listener.filter_chains {
            for filter in &mut chain.filters {
                self.decorate_hcm(&mut filter.typed_config.value, service_name, hop);
            }
        }
    }

    /// The bootstrap's static clusters (the collector's and the receiver's, when on).
    pub(crate) fn static_clusters(&self) -> Vec<Value> {
        let mut clusters: Vec<Value> = self.collector.iter().map(Collector::cluster).collect();
        if let Some(port) = self.log_receiver {
            clusters.push(json!({
                "name": LOG_RECEIVER_CLUSTER,
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {"cluster_name": LOG_RECEIVER_CLUSTER, "endpoints": [{"lb_endpoints": [{"endpoint": {
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
                "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": {"http2_protocol_options": {}}}},
            }));
        }
        clusters
    }

    /// The bootstrap's runtime: the tracer flushes every [`FLUSH_INTERVAL_MS`] when it sends to
    /// `up`'s receiver (`None`: Envoy's defaults).
    pub(crate) fn runtime(&self) -> Option<Value> {
        self.log_receiver?;
        self.collector.as_ref()?;
        Some(json!({"layers": [
            {"name": "kyc-mesh", "static_layer": {
                "tracing.opentelemetry.flush_interval_ms": FLUSH_INTERVAL_MS,
                "tracing.opentelemetry.min_flush_spans": MIN_FLUSH_SPANS}},
            {"name": "admin", "admin_layer": {}},
        ]}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_collector_comes_from_the_standard_variables() {
        assert_eq!(Collector::from_vars(vars(&[])), None);
        let c = Collector::from_vars(vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:4318",
        )]))
        .expect("set")
        .expect("valid");
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 4318));
        assert_eq!(c.uri, "http://127.0.0.1:4318/v1/traces");
        let g = Collector::from_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]))
        .expect("set")
        .expect("valid");
        assert_eq!(g.http_path, None);
        assert!(g.cluster()["typed_extension_protocol_options"].is_object());
        let t = Collector::from_vars(vars(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:9999/custom",
        )]))
        .expect("set")
        .expect("valid");
        assert_eq!(t.uri, "http://c:9999/custom");
        assert!(
            Collector::from_vars(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")]))
                .is_some_and(|r| r.is_err())
        );
    }

    #[test]
    fn a_waypoint_traces_each_request_on_its_l7_listeners_not_its_tunnels() {
        use crate::envoy::hbone;
        let files = hbone::TlsFiles {
            chain: "c.pem".into(),
            key: "k.pem".into(),
            root: "r.pem".into(),
        };
        let vip = "inbound-vip|8080|http|kyc-credit-check-basic.default.svc.cluster.local";
        let bootstrap = json!({"static_resources": {
            "listeners": [
                hbone::terminating_listener(15008, &files, &[(vec!["x:8080".into()], vip.into())], "peer"),
                hbone::internal_http_listener(vip, std::path::Path::new("/rds"), None, None),
                hbone::originating_listener(),
            ],
            "clusters": [hbone::internal_cluster(vip)],
        }});
        // Telemetry off: the bootstrap as it was.
        let off = Telemetry::default().decorate_waypoint(bootstrap.clone(), "waypoint", "default");
        assert_eq!(off, bootstrap);
        let on = Telemetry {
            collector: Some(Collector::local(4318)),
            access_log: false,
            log_receiver: Some(4317),
        };
        let b = on.decorate_waypoint(bootstrap, "waypoint", "default");
        let hcm = |i: usize| {
            &b["static_resources"]["listeners"][i]["filter_chains"][0]["filters"][0]["typed_config"]
        };
        let tracing = &hcm(1)["tracing"];
        assert_eq!(tracing["custom_tags"][0]["literal"]["value"], HOP_WAYPOINT);
        assert_eq!(
            tracing["provider"]["typed_config"]["service_name"],
            "waypoint.default"
        );
        assert_eq!(tracing["spawn_upstream_span"], true);
        assert_eq!(hcm(1)["access_log"].as_array().map(Vec::len), Some(1));
        // The HBONE listener (a span per tunnel) and the tunnel's originator: none.
        assert!(hcm(0).get("tracing").is_none());
        assert!(hcm(2).get("tracing").is_none());
        let clusters: Vec<&str> = b["static_resources"]["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(clusters, [vip, COLLECTOR_CLUSTER, LOG_RECEIVER_CLUSTER]);
        assert!(b["layered_runtime"].is_object());
    }

    #[test]
    fn the_access_log_format_has_no_query_string_or_body() {
        assert!(ACCESS_LOG_FORMAT.contains("%PATH(NQ:ORIG_OR_PATH)%"));
        assert!(!ACCESS_LOG_FORMAT.contains("%REQ(:PATH)%"));
        assert!(!ACCESS_LOG_FORMAT.to_lowercase().contains("body"));
    }
}
