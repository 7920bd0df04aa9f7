//! Gateway + VirtualService + DestinationRule → Envoy v3 configuration, the way istiod
//! programs the ingress gateway: one HTTP listener for the gateway port, one route
//! configuration (first match wins), and one cluster per (host, subset, port) with the
//! DestinationRule's traffic policy.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{json, Value};

use crate::duration;
use crate::model::{
    Destination, DestinationRule, Fault, Gateway, HeaderOps, Headers, HttpMatch, HttpRoute, Loaded,
    Object, Percent, Retries, Service, StringMatch, TrafficPolicy, VirtualService,
};

pub const NAMESPACE: &str = "default";
/// Istio's default route retry policy (pilot/pkg/networking/core/route/retry).
pub const ISTIO_DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
const U32_MAX: u64 = u32::MAX as u64;

/// Local ports (all on 127.0.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub aggregator: u16,
    pub basic: u16,
    pub advanced: u16,
    pub gateway: u16,
    pub admin: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            aggregator: 8080,
            basic: 8081,
            advanced: 8082,
            gateway: 8000,
            admin: 9901,
        }
    }
}

/// The local stand-in for a pod: one binary on one port with the pod labels of its
/// Deployment (or the contract's labels when networking/ has no Deployment for it).
#[derive(Debug, Clone)]
pub struct Instance {
    pub binary: &'static str,
    pub port: u16,
    pub labels: BTreeMap<String, String>,
}

pub const BINARIES: [&str; 3] = [
    "kyc-aggregator-mgt",
    "kyc-credit-check-basic",
    "kyc-credit-check-advanced",
];

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The documented local topology: Deployment name = binary name, one instance each.
pub fn local_instances(ports: &Ports, objects: &[Loaded]) -> Vec<Instance> {
    let defaults = [
        (BINARIES[0], ports.aggregator, "v1"),
        (BINARIES[1], ports.basic, "v1"),
        (BINARIES[2], ports.advanced, "v2"),
    ];
    defaults
        .iter()
        .map(|(binary, port, version)| {
            let from_yaml = objects.iter().find_map(|o| match &o.object {
                Object::Deployment(d) if d.metadata.name == *binary => {
                    Some(d.spec.template.metadata.labels.clone())
                }
                _ => None,
            });
            Instance {
                binary,
                port: *port,
                labels: from_yaml
                    .unwrap_or_else(|| labels(&[("app", binary), ("version", version)])),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub origin: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.severity {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
            Severity::Info => "Info",
        };
        write!(f, "{s} [{}] {}", self.origin, self.message)
    }
}

/// The translated configuration.
#[derive(Debug, Clone)]
pub struct EnvoyConfig {
    pub listener_port: u16,
    pub route_config: Value,
    pub clusters: Vec<Value>,
    pub findings: Vec<Finding>,
}

pub const ROUTE_CONFIG_NAME: &str = "http.80";
pub const FAULT_FILTER: &str = "envoy.filters.http.fault";

impl EnvoyConfig {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The ingress listener; `rds` is the HCM route specifier (inline `route_config`
    /// or an `rds` config source).
    pub fn listener(&self, rds: (&str, Value)) -> Value {
        let mut hcm = json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "outbound_0.0.0.0_80",
            "use_remote_address": true,
            "normalize_path": true,
            "http_filters": [
                {"name": FAULT_FILTER, "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}},
                {"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
            ]
        });
        hcm[rds.0] = rds.1;
        json!({
            "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
            "name": "0.0.0.0_80",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": self.listener_port}},
            // A second mesh on the same port must fail to bind, not share it silently.
            "enable_reuse_port": false,
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": hcm
            }]}]
        })
    }

    /// A self-contained static Envoy bootstrap (what `render` prints).
    pub fn static_bootstrap(&self, admin_port: u16) -> Value {
        let mut route_config = self.route_config.clone();
        if let Some(o) = route_config.as_object_mut() {
            o.remove("@type");
        }
        let mut listener = self.listener(("route_config", route_config));
        if let Some(o) = listener.as_object_mut() {
            o.remove("@type");
        }
        let clusters: Vec<Value> = self
            .clusters
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if let Some(o) = c.as_object_mut() {
                    o.remove("@type");
                }
                c
            })
            .collect();
        json!({
            "node": {"id": "kyc-mesh", "cluster": "istio-ingressgateway"},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
            "static_resources": {"listeners": [listener], "clusters": clusters}
        })
    }
}

struct Ctx<'a> {
    services: Vec<(&'a Loaded, &'a Service)>,
    gateways: Vec<(&'a Loaded, &'a Gateway)>,
    virtual_services: Vec<(&'a Loaded, &'a VirtualService)>,
    rules: Vec<(&'a Loaded, &'a DestinationRule)>,
    instances: Vec<Instance>,
    findings: Vec<Finding>,
    clusters: BTreeMap<String, Value>,
}

/// A resolved Kubernetes service host.
struct Resolved<'a> {
    fqdn: String,
    service: &'a Service,
}

fn namespace_of(ns: &Option<String>) -> &str {
    ns.as_deref().unwrap_or(NAMESPACE)
}

impl<'a> Ctx<'a> {
    /// Records a finding once: a broken reference used by several routes is one problem to fix.
    fn push(&mut self, severity: Severity, origin: &Loaded, message: String) {
        let finding = Finding {
            severity,
            origin: origin.origin.to_string(),
            message,
        };
        if !self.findings.contains(&finding) {
            self.findings.push(finding);
        }
    }

    fn resolve(&self, host: &str, from_ns: &str) -> Option<Resolved<'a>> {
        let trimmed = host
            .trim_end_matches(".svc.cluster.local")
            .trim_end_matches(".svc");
        let mut parts = trimmed.split('.');
        let name = parts.next()?;
        let ns = parts.next().unwrap_or(from_ns);
        if parts.next().is_some() {
            return None;
        }
        self.services.iter().find_map(|(_, s)| {
            (s.metadata.name == name && namespace_of(&s.metadata.namespace) == ns).then(|| {
                Resolved {
                    fqdn: format!("{name}.{ns}.svc.cluster.local"),
                    service: s,
                }
            })
        })
    }

    fn rule_for(&self, fqdn: &str) -> Option<&'a DestinationRule> {
        self.rules.iter().find_map(|(_, r)| {
            let ns = namespace_of(&r.metadata.namespace);
            self.resolve(&r.spec.host, ns)
                .filter(|res| res.fqdn == fqdn)
                .map(|_| *r)
        })
    }

    /// Build (once) the cluster for a destination; returns its name.
    fn cluster_for(&mut self, origin: &Loaded, dest: &Destination, ns: &str) -> Option<String> {
        let Some(res) = self.resolve(&dest.host, ns) else {
            self.push(
                Severity::Error,
                origin,
                format!(
                    "destination host {:?} does not match any Service in networking/ (IST0101 ReferencedResourceNotFound)",
                    dest.host
                ),
            );
            return None;
        };
        let svc_ports = &res.service.spec.ports;
        let port = match (&dest.port, svc_ports.len()) {
            (Some(p), _) => {
                if !svc_ports.iter().any(|sp| sp.port == p.number) {
                    self.push(
                        Severity::Error,
                        origin,
                        format!(
                            "destination {:?} port {} is not a port of Service {} (ports: {:?})",
                            dest.host,
                            p.number,
                            res.service.metadata.name,
                            svc_ports.iter().map(|p| p.port).collect::<Vec<_>>()
                        ),
                    );
                    return None;
                }
                p.number
            }
            (None, 1) => svc_ports[0].port,
            (None, n) => {
                self.push(
                    Severity::Error,
                    origin,
                    format!(
                        "destination {:?} needs `port.number`: Service {} has {n} ports",
                        dest.host, res.service.metadata.name
                    ),
                );
                return None;
            }
        };
        let rule = self.rule_for(&res.fqdn);
        let mut selector = res.service.spec.selector.clone();
        let mut policy = rule
            .and_then(|r| r.spec.traffic_policy.clone())
            .unwrap_or_default();
        let subset_name = dest.subset.clone().unwrap_or_default();
        if let Some(subset) = &dest.subset {
            let found = rule.and_then(|r| r.spec.subsets.iter().find(|s| &s.name == subset));
            let Some(found) = found else {
                self.push(
                    Severity::Error,
                    origin,
                    format!(
                        "subset {subset:?} of host {:?} is not defined by any DestinationRule (IST0101 ReferencedResourceNotFound)",
                        dest.host
                    ),
                );
                return None;
            };
            selector.extend(found.labels.clone());
            if let Some(sp) = &found.traffic_policy {
                merge_policy(&mut policy, sp);
            }
        }
        let name = format!("outbound|{port}|{subset_name}|{}", res.fqdn);
        if self.clusters.contains_key(&name) {
            return Some(name);
        }
        let endpoints: Vec<u16> = self
            .instances
            .iter()
            .filter(|i| selector.iter().all(|(k, v)| i.labels.get(k) == Some(v)))
            .map(|i| i.port)
            .collect();
        if endpoints.is_empty() {
            self.push(
                Severity::Error,
                origin,
                format!(
                    "{:?}{} selects no pods: no Deployment's pod labels match {selector:?} (requests would get 503 no healthy upstream)",
                    dest.host,
                    dest.subset.as_ref().map(|s| format!(" subset {s:?}")).unwrap_or_default()
                ),
            );
        }
        match build_cluster(&name, &endpoints, &policy) {
            Ok(c) => {
                self.clusters.insert(name.clone(), c);
                Some(name)
            }
            Err(e) => {
                let rule_origin = self
                    .rules
                    .iter()
                    .find(|(_, r)| rule.is_some_and(|x| std::ptr::eq(*r, x)))
                    .map(|(l, _)| *l)
                    .unwrap_or(origin);
                self.push(Severity::Error, rule_origin, e);
                None
            }
        }
    }
}

fn merge_policy(base: &mut TrafficPolicy, over: &TrafficPolicy) {
    if over.connection_pool.is_some() {
        base.connection_pool = over.connection_pool.clone();
    }
    if over.outlier_detection.is_some() {
        base.outlier_detection = over.outlier_detection.clone();
    }
    if over.load_balancer.is_some() {
        base.load_balancer = over.load_balancer.clone();
    }
}

fn dur(text: &str, what: &str) -> Result<String, String> {
    duration::parse(text)
        .map(duration::envoy)
        .map_err(|e| format!("{what}: {e}"))
}

fn build_cluster(name: &str, ports: &[u16], policy: &TrafficPolicy) -> Result<Value, String> {
    let pool = policy.connection_pool.clone().unwrap_or_default();
    let tcp = pool.tcp.unwrap_or_default();
    let http = pool.http.unwrap_or_default();
    let connect_timeout = match &tcp.connect_timeout {
        Some(t) => dur(t, "connectionPool.tcp.connectTimeout")?,
        None => "10s".to_string(),
    };
    let lb_policy = match policy.load_balancer.as_ref().map(|l| l.simple.as_str()) {
        None | Some("LEAST_REQUEST") | Some("UNSPECIFIED") => "LEAST_REQUEST",
        Some("ROUND_ROBIN") => "ROUND_ROBIN",
        Some("RANDOM") => "RANDOM",
        Some(other) => {
            return Err(format!(
                "trafficPolicy.loadBalancer.simple {other:?} is not translated (use ROUND_ROBIN, LEAST_REQUEST or RANDOM)"
            ))
        }
    };
    let lb_endpoints: Vec<Value> = ports
        .iter()
        .map(|p| json!({"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}))
        .collect();
    let mut cluster = json!({
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "lb_policy": lb_policy,
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": lb_endpoints}]},
        "circuit_breakers": {"thresholds": [{
            "max_connections": tcp.max_connections.map(u64::from).unwrap_or(U32_MAX),
            "max_pending_requests": http.http1_max_pending_requests.map(u64::from).unwrap_or(U32_MAX),
            "max_requests": http.http2_max_requests.map(u64::from).unwrap_or(U32_MAX),
            "max_retries": http.max_retries.map(u64::from).unwrap_or(U32_MAX),
            "track_remaining": true
        }]}
    });
    let mut common = serde_json::Map::new();
    if let Some(n) = http.max_requests_per_connection {
        common.insert("max_requests_per_connection".into(), json!(n));
    }
    if let Some(t) = &http.idle_timeout {
        common.insert(
            "idle_timeout".into(),
            json!(dur(t, "connectionPool.http.idleTimeout")?),
        );
    }
    if !common.is_empty() {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": common,
                "explicit_http_config": {"http_protocol_options": {}}
            }
        });
    }
    if let Some(od) = &policy.outlier_detection {
        let mut o = serde_json::Map::new();
        if let Some(n) = od.consecutive_5xx_errors {
            o.insert("consecutive_5xx".into(), json!(n));
            o.insert(
                "enforcing_consecutive_5xx".into(),
                json!(if n > 0 { 100 } else { 0 }),
            );
        } else {
            o.insert("enforcing_consecutive_5xx".into(), json!(0));
        }
        if let Some(n) = od.consecutive_gateway_errors {
            o.insert("consecutive_gateway_failure".into(), json!(n));
            o.insert(
                "enforcing_consecutive_gateway_failure".into(),
                json!(if n > 0 { 100 } else { 0 }),
            );
        }
        if let Some(t) = &od.interval {
            o.insert(
                "interval".into(),
                json!(dur(t, "outlierDetection.interval")?),
            );
        }
        if let Some(t) = &od.base_ejection_time {
            o.insert(
                "base_ejection_time".into(),
                json!(dur(t, "outlierDetection.baseEjectionTime")?),
            );
        }
        if let Some(n) = od.max_ejection_percent {
            o.insert("max_ejection_percent".into(), json!(n));
        }
        o.insert("enforcing_success_rate".into(), json!(0));
        cluster["outlier_detection"] = Value::Object(o);
        cluster["common_lb_config"] = json!({
            "healthy_panic_threshold": {"value": od.min_health_percent.unwrap_or(0)}
        });
    }
    Ok(cluster)
}

fn string_match(m: &StringMatch) -> Value {
    match m {
        StringMatch::Exact(v) => json!({"exact": v}),
        StringMatch::Prefix(v) => json!({"prefix": v}),
        StringMatch::Regex(v) => json!({"safe_regex": {"regex": v}}),
    }
}

fn fraction(p: Option<&Percent>) -> Result<Value, String> {
    let value = p.map(|p| p.value).unwrap_or(100.0);
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("percentage {value} must be within 0..100"));
    }
    Ok(json!({"numerator": (value * 10_000.0).round() as u64, "denominator": "MILLION"}))
}

fn header_ops(ops: &HeaderOps) -> (Vec<Value>, Vec<String>) {
    let mut add = Vec::new();
    for (k, v) in &ops.set {
        add.push(json!({"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}));
    }
    for (k, v) in &ops.add {
        add.push(
            json!({"header": {"key": k, "value": v}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}),
        );
    }
    (add, ops.remove.clone())
}

fn apply_headers(target: &mut serde_json::Map<String, Value>, headers: &Headers) {
    if let Some(req) = &headers.request {
        let (add, remove) = header_ops(req);
        if !add.is_empty() {
            target.insert("request_headers_to_add".into(), json!(add));
        }
        if !remove.is_empty() {
            target.insert("request_headers_to_remove".into(), json!(remove));
        }
    }
    if let Some(resp) = &headers.response {
        let (add, remove) = header_ops(resp);
        if !add.is_empty() {
            target.insert("response_headers_to_add".into(), json!(add));
        }
        if !remove.is_empty() {
            target.insert("response_headers_to_remove".into(), json!(remove));
        }
    }
}

fn route_match(m: Option<&HttpMatch>) -> Value {
    let Some(m) = m else {
        return json!({"prefix": "/"});
    };
    let mut out = serde_json::Map::new();
    match &m.uri {
        None => {
            out.insert("prefix".into(), json!("/"));
        }
        Some(StringMatch::Exact(p)) => {
            out.insert("path".into(), json!(p));
        }
        Some(StringMatch::Prefix(p)) => {
            out.insert("prefix".into(), json!(p));
        }
        Some(StringMatch::Regex(r)) => {
            out.insert("safe_regex".into(), json!({"regex": r}));
        }
    }
    if m.ignore_uri_case {
        out.insert("case_sensitive".into(), json!(false));
    }
    let mut headers = Vec::new();
    if let Some(method) = &m.method {
        headers.push(json!({"name": ":method", "string_match": string_match(method)}));
    }
    for (name, sm) in &m.headers {
        headers.push(json!({"name": name, "string_match": string_match(sm)}));
    }
    for (name, sm) in &m.without_headers {
        headers.push(json!({"name": name, "string_match": string_match(sm), "invert_match": true}));
    }
    if !headers.is_empty() {
        out.insert("headers".into(), json!(headers));
    }
    if !m.query_params.is_empty() {
        let q: Vec<Value> = m
            .query_params
            .iter()
            .map(|(name, sm)| json!({"name": name, "string_match": string_match(sm)}))
            .collect();
        out.insert("query_parameters".into(), json!(q));
    }
    Value::Object(out)
}

fn retry_policy(r: Option<&Retries>) -> Result<Option<Value>, String> {
    let (attempts, per_try, retry_on) = match r {
        None => (2, None, None),
        Some(r) => (
            r.attempts,
            r.per_try_timeout.as_deref(),
            r.retry_on.as_deref(),
        ),
    };
    if attempts == 0 {
        return Ok(None);
    }
    let mut on: Vec<String> = Vec::new();
    let mut codes: Vec<u32> = Vec::new();
    match retry_on {
        None => {
            on.extend(ISTIO_DEFAULT_RETRY_ON.split(',').map(String::from));
            codes.push(503);
        }
        Some(list) => {
            for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if let Ok(code) = item.parse::<u32>() {
                    codes.push(code);
                } else {
                    on.push(item.to_string());
                }
            }
            if !codes.is_empty() && !on.iter().any(|s| s == "retriable-status-codes") {
                on.push("retriable-status-codes".into());
            }
        }
    }
    let mut p = json!({
        "retry_on": on.join(","),
        "num_retries": attempts,
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}
        }],
        "host_selection_retry_max_attempts": 5
    });
    if !codes.is_empty() {
        p["retriable_status_codes"] = json!(codes);
    }
    if let Some(t) = per_try {
        p["per_try_timeout"] = json!(dur(t, "retries.perTryTimeout")?);
    }
    Ok(Some(p))
}

fn fault_config(f: &Fault) -> Result<Value, String> {
    let mut cfg =
        json!({"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"});
    if let Some(d) = &f.delay {
        cfg["delay"] = json!({
            "fixed_delay": dur(&d.fixed_delay, "fault.delay.fixedDelay")?,
            "percentage": fraction(d.percentage.as_ref())?
        });
    }
    if let Some(a) = &f.abort {
        if !(200..600).contains(&a.http_status) {
            return Err(format!(
                "fault.abort.httpStatus {} is not an HTTP status",
                a.http_status
            ));
        }
        cfg["abort"] = json!({
            "http_status": a.http_status,
            "percentage": fraction(a.percentage.as_ref())?
        });
    }
    Ok(cfg)
}

impl Ctx<'_> {
    fn translate_route(
        &mut self,
        origin: &Loaded,
        vs: &VirtualService,
        index: usize,
        route: &HttpRoute,
        gateway_names: &BTreeSet<String>,
    ) -> Vec<Value> {
        let ns = namespace_of(&vs.metadata.namespace).to_string();
        let label = route.name.clone().unwrap_or_else(|| index.to_string());
        let where_ = format!("spec.http[{index}]");
        let mut errors = Vec::new();
        if route.route.is_empty() {
            self.push(
                Severity::Error,
                origin,
                format!("{where_}: a route needs at least one `route` destination (redirect/directResponse are not translated)"),
            );
            return Vec::new();
        }
        // destinations
        let weighted: Vec<_> = route
            .route
            .iter()
            .filter(|d| route.route.len() == 1 || d.weight.unwrap_or(0) > 0)
            .collect();
        if route.route.len() > 1 {
            let total: u32 = route.route.iter().map(|d| d.weight.unwrap_or(0)).sum();
            if total != 100 {
                self.push(
                    Severity::Error,
                    origin,
                    format!("{where_}.route: weights add up to {total}, they must add up to 100"),
                );
            }
        }
        let mut action = serde_json::Map::new();
        let mut route_level = serde_json::Map::new();
        if weighted.len() == 1 {
            if let Some(c) = self.cluster_for(origin, &weighted[0].destination, &ns) {
                action.insert("cluster".into(), json!(c));
            }
            if let Some(h) = &weighted[0].headers {
                apply_headers(&mut route_level, h);
            }
        } else {
            let mut clusters = Vec::new();
            for d in &weighted {
                if let Some(c) = self.cluster_for(origin, &d.destination, &ns) {
                    let mut wc = serde_json::Map::new();
                    wc.insert("name".into(), json!(c));
                    wc.insert("weight".into(), json!(d.weight.unwrap_or(0)));
                    if let Some(h) = &d.headers {
                        apply_headers(&mut wc, h);
                    }
                    clusters.push(Value::Object(wc));
                }
            }
            action.insert("weighted_clusters".into(), json!({"clusters": clusters}));
        }
        match &route.timeout {
            Some(t) => match dur(t, "timeout") {
                Ok(v) => {
                    action.insert("timeout".into(), json!(v));
                }
                Err(e) => errors.push(e),
            },
            None => {
                action.insert("timeout".into(), json!("0s"));
            }
        }
        match retry_policy(route.retries.as_ref()) {
            Ok(Some(p)) => {
                action.insert("retry_policy".into(), p);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
        if let Some(rw) = &route.rewrite {
            if let Some(uri) = &rw.uri {
                action.insert("prefix_rewrite".into(), json!(uri));
            }
            if let Some(a) = &rw.authority {
                action.insert("host_rewrite_literal".into(), json!(a));
            }
        }
        if let Some(m) = &route.mirror {
            if let Some(c) = self.cluster_for(origin, m, &ns) {
                match fraction(route.mirror_percentage.as_ref()) {
                    Ok(f) => {
                        action.insert(
                            "request_mirror_policies".into(),
                            json!([{"cluster": c, "runtime_fraction": {"default_value": f}, "trace_sampled": false}]),
                        );
                    }
                    Err(e) => errors.push(format!("mirrorPercentage: {e}")),
                }
            }
        } else if route.mirror_percentage.is_some() {
            errors.push("mirrorPercentage without mirror".into());
        }
        if let Some(h) = &route.headers {
            apply_headers(&mut route_level, h);
        }
        let mut per_filter = serde_json::Map::new();
        if let Some(f) = &route.fault {
            match fault_config(f) {
                Ok(cfg) => {
                    per_filter.insert(FAULT_FILTER.into(), cfg);
                }
                Err(e) => errors.push(e),
            }
        }
        for e in errors {
            self.push(Severity::Error, origin, format!("{where_}: {e}"));
        }
        let matches: Vec<Option<&HttpMatch>> = if route.matches.is_empty() {
            vec![None]
        } else {
            route
                .matches
                .iter()
                .filter(|m| {
                    m.gateways.is_empty() || m.gateways.iter().any(|g| gateway_names.contains(g))
                })
                .map(Some)
                .collect()
        };
        matches
            .into_iter()
            .map(|m| {
                let mut r = serde_json::Map::new();
                r.insert(
                    "name".into(),
                    json!(format!("{}.{label}", vs.metadata.name)),
                );
                r.insert("match".into(), route_match(m));
                r.insert("route".into(), Value::Object(action.clone()));
                for (k, v) in &route_level {
                    r.insert(k.clone(), v.clone());
                }
                if !per_filter.is_empty() {
                    r.insert(
                        "typed_per_filter_config".into(),
                        Value::Object(per_filter.clone()),
                    );
                }
                Value::Object(r)
            })
            .collect()
    }
}

/// Translate loaded objects into Envoy configuration plus findings.
pub fn translate(objects: &[Loaded], ports: &Ports) -> EnvoyConfig {
    let mut ctx = Ctx {
        services: Vec::new(),
        gateways: Vec::new(),
        virtual_services: Vec::new(),
        rules: Vec::new(),
        instances: local_instances(ports, objects),
        findings: Vec::new(),
        clusters: BTreeMap::new(),
    };
    for o in objects {
        match &o.object {
            Object::Service(s) => ctx.services.push((o, s)),
            Object::Gateway(g) => ctx.gateways.push((o, g)),
            Object::VirtualService(v) => ctx.virtual_services.push((o, v)),
            Object::DestinationRule(d) => ctx.rules.push((o, d)),
            Object::Deployment(d) => {
                if !BINARIES.contains(&d.metadata.name.as_str()) {
                    ctx.push(
                        Severity::Warning,
                        o,
                        format!(
                            "Deployment {:?} has no local binary (local topology: {})",
                            d.metadata.name,
                            BINARIES.join(", ")
                        ),
                    );
                }
            }
            Object::TopologyOnly => {}
        }
    }
    // Gateways: one HTTP port, mapped to the local gateway port.
    let mut gateway_names = BTreeSet::new();
    let mut gateway_ports = BTreeSet::new();
    for (o, g) in ctx.gateways.clone() {
        let ns = namespace_of(&g.metadata.namespace);
        gateway_names.insert(g.metadata.name.clone());
        gateway_names.insert(format!("{ns}/{}", g.metadata.name));
        if g.spec.selector.get("istio").map(String::as_str) != Some("ingressgateway") {
            ctx.push(
                Severity::Warning,
                o,
                format!(
                    "spec.selector {:?} does not select Istio's ingress gateway (istio: ingressgateway); locally this Gateway is still served by the Envoy gateway",
                    g.spec.selector
                ),
            );
        }
        for (i, s) in g.spec.servers.iter().enumerate() {
            if !matches!(
                s.port.protocol.to_ascii_uppercase().as_str(),
                "HTTP" | "HTTP2"
            ) {
                ctx.push(
                    Severity::Error,
                    o,
                    format!(
                        "spec.servers[{i}].port.protocol {:?}: only HTTP is translated (TLS needs the minikube + Istio path)",
                        s.port.protocol
                    ),
                );
            }
            gateway_ports.insert(s.port.number);
        }
    }
    if gateway_ports.len() > 1 {
        let origin = ctx.gateways[0].0;
        ctx.push(
            Severity::Error,
            origin,
            format!("gateway ports {gateway_ports:?}: the local mesh maps exactly one gateway port (Istio's 80) to --gateway-port"),
        );
    }
    if ctx.gateways.is_empty() {
        ctx.findings.push(Finding {
            severity: Severity::Error,
            origin: "networking/".into(),
            message: "no Gateway found: nothing to translate into the ingress gateway".into(),
        });
    }
    // DestinationRules: host must exist (once), subsets must select pods.
    let mut rule_hosts: BTreeMap<String, String> = BTreeMap::new();
    for (o, r) in ctx.rules.clone() {
        let ns = namespace_of(&r.metadata.namespace);
        if let Some(res) = ctx.resolve(&r.spec.host, ns) {
            if let Some(other) = rule_hosts.insert(res.fqdn.clone(), r.metadata.name.clone()) {
                ctx.push(
                    Severity::Error,
                    o,
                    format!(
                        "DestinationRules {other:?} and {:?} both configure host {} (IST0171 ConflictingDestinationRules)",
                        r.metadata.name, res.fqdn
                    ),
                );
            }
        }
        match ctx.resolve(&r.spec.host, ns) {
            None => ctx.push(
                Severity::Error,
                o,
                format!("spec.host {:?} does not match any Service (IST0101 ReferencedResourceNotFound)", r.spec.host),
            ),
            Some(res) => {
                let mut seen = BTreeSet::new();
                for (i, s) in r.spec.subsets.iter().enumerate() {
                    if !seen.insert(s.name.clone()) {
                        ctx.push(Severity::Error, o, format!("spec.subsets[{i}]: duplicate subset name {:?}", s.name));
                    }
                    let mut sel = res.service.spec.selector.clone();
                    sel.extend(s.labels.clone());
                    if !ctx.instances.iter().any(|inst| sel.iter().all(|(k, v)| inst.labels.get(k) == Some(v))) {
                        ctx.push(
                            Severity::Error,
                            o,
                            format!("spec.subsets[{i}] {:?}: labels {:?} select no pods (IST0131 DestinationRuleSubsetNotSelectPods)", s.name, s.labels),
                        );
                    }
                }
            }
        }
    }
    // VirtualServices bound to the gateway, grouped by host (one Envoy virtual host each).
    let mut vhosts: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut host_order: Vec<String> = Vec::new();
    for (o, vs) in ctx.virtual_services.clone() {
        let bound: Vec<&String> = vs
            .spec
            .gateways
            .iter()
            .filter(|g| g.as_str() != "mesh")
            .collect();
        if bound.is_empty() {
            ctx.push(
                Severity::Info,
                o,
                "not bound to a Gateway (mesh-only): not applied at the local ingress gateway"
                    .into(),
            );
            continue;
        }
        for g in bound {
            if !gateway_names.contains(g) {
                ctx.push(
                    Severity::Error,
                    o,
                    format!("spec.gateways: Gateway {g:?} not found (IST0101 ReferencedResourceNotFound)"),
                );
            }
        }
        let mut routes = Vec::new();
        for (i, r) in vs.spec.http.iter().enumerate() {
            routes.extend(ctx.translate_route(o, vs, i, r, &gateway_names));
        }
        for h in &vs.spec.hosts {
            if !host_order.contains(h) {
                host_order.push(h.clone());
            }
            vhosts
                .entry(h.clone())
                .or_default()
                .extend(routes.iter().cloned());
        }
    }
    let virtual_hosts: Vec<Value> = host_order
        .iter()
        .map(|h| {
            let domains = if h == "*" {
                json!(["*"])
            } else {
                json!([h, format!("{h}:*")])
            };
            json!({"name": format!("{h}:80"), "domains": domains, "routes": vhosts[h]})
        })
        .collect();
    let route_config = json!({
        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "name": ROUTE_CONFIG_NAME,
        "virtual_hosts": virtual_hosts,
        "validate_clusters": false
    });
    EnvoyConfig {
        listener_port: ports.gateway,
        route_config,
        clusters: ctx.clusters.into_values().collect(),
        findings: ctx.findings,
    }
}

#[cfg(test)]
#[path = "translate_tests.rs"]
mod tests;
