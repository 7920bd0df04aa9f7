//! Destinations → clusters: resolve the host, pick the port, apply the DestinationRule
//! (subset labels and traffic policy) and point the cluster at the pods it selects.

use crate::analyze::{Code, Severity};
use crate::envoy::cluster::{
    CircuitBreakers, Cluster, CommonHttpProtocolOptions, CommonLbConfig, DiscoveryType,
    ExplicitHttpConfig, HttpProtocolOptions, LbPolicy, LoadAssignment, OutlierDetection,
    PercentValue, ProtocolOptions, Thresholds,
};
use crate::envoy::health::HealthCheck;
use crate::envoy::tls::{TransportSocket, UpstreamTlsContext};
use crate::envoy::{Any, ClusterName, Duration};
use crate::identity::SpiffeId;
use crate::istio::{ClientTlsMode, Destination, Loaded, TrafficPolicy};

use super::{dur, Ctx, Untranslatable};

/// Envoy's circuit breaker default when Istio sets no limit: effectively none.
const UNLIMITED: u64 = u32::MAX as u64;

impl Ctx<'_> {
    /// The cluster of a destination, built once; `None` (with a finding) when it cannot be.
    pub(super) fn cluster_for(
        &mut self,
        origin: &Loaded,
        dest: &Destination,
        ns: &str,
    ) -> Option<ClusterName> {
        let Some(res) = self.registry.resolve(&dest.host, ns) else {
            self.findings.push_coded(
                Severity::Error,
                origin,
                format!(
                    "destination host {:?} does not match any Service in networking/",
                    dest.host
                ),
                Some(Code::ReferencedResourceNotFound),
            );
            return None;
        };
        let svc_ports = &res.service.spec.ports;
        let port = match (&dest.port, svc_ports.as_slice()) {
            (Some(p), _) if svc_ports.iter().any(|sp| sp.port == p.number) => p.number,
            (Some(p), _) => {
                self.findings.push_coded(
                    Severity::Error,
                    origin,
                    format!(
                        "destination {:?} port {} is not a port of Service {} (ports: {:?})",
                        dest.host,
                        p.number,
                        res.name,
                        svc_ports.iter().map(|p| p.port).collect::<Vec<_>>()
                    ),
                    Some(Code::ReferencedResourceNotFound),
                );
                return None;
            }
            (None, [only]) => only.port,
            (None, all) => {
                self.findings.push_coded(
                    Severity::Error,
                    origin,
                    format!(
                        "destination {:?} needs `port.number`: Service {} has {} ports",
                        dest.host,
                        res.name,
                        all.len()
                    ),
                    Some(Code::ReferencedResourceNotFound),
                );
                return None;
            }
        };
        let fqdn = res.fqdn();
        let rule = self.registry.rule_for(&fqdn);
        let mut selector = res.service.spec.selector.clone();
        let mut policy = rule
            .and_then(|(_, r)| r.spec.traffic_policy.clone())
            .unwrap_or_default();
        if let Some(subset) = &dest.subset {
            let found = rule.and_then(|(_, r)| r.spec.subsets.iter().find(|s| &s.name == subset));
            let Some(found) = found else {
                self.findings.push_coded(
                    Severity::Error,
                    origin,
                    format!(
                        "subset {subset:?} of host {:?} is not defined by any DestinationRule",
                        dest.host
                    ),
                    Some(Code::ReferencedResourceNotFound),
                );
                return None;
            };
            selector.extend(found.labels.clone());
            if let Some(sp) = &found.traffic_policy {
                policy = policy.merged_with(sp);
            }
        }
        let name = ClusterName::outbound(port, dest.subset.as_deref(), &fqdn);
        if self.clusters.contains_key(&name) {
            return Some(name);
        }
        let endpoints = self.topology.ports_selected_by(&selector);
        if endpoints.is_empty() {
            self.findings.push(
                Severity::Error,
                origin,
                format!(
                    "{:?}{} selects no pods: no Deployment's pod labels match {selector:?} (requests would get 503 no healthy upstream)",
                    dest.host,
                    dest.subset.as_ref().map(|s| format!(" subset {s:?}")).unwrap_or_default()
                ),
            );
        }
        match build_cluster(name.clone(), &endpoints, &policy) {
            Ok(mut c) => {
                c.transport_socket = self.mtls_to(&name, &selector, &policy);
                self.clusters.insert(name.clone(), c);
                Some(name)
            }
            Err(e) => {
                // The rule is what to fix, so the finding points at it.
                self.findings
                    .push(Severity::Error, rule.map_or(origin, |(o, _)| o), e.0);
                None
            }
        }
    }
}

impl Ctx<'_> {
    /// The client side of mTLS to the pods `selector` picks, when the proxy being built
    /// has an identity: `ISTIO_MUTUAL` always, `DISABLE` never, and without a `tls`
    /// setting when every such pod has a sidecar (Istio's auto mTLS). The peer must
    /// present one of those pods' SPIFFE IDs.
    fn mtls_to(
        &self,
        name: &ClusterName,
        selector: &std::collections::BTreeMap<String, String>,
        policy: &TrafficPolicy,
    ) -> Option<TransportSocket<UpstreamTlsContext>> {
        let sds = self.sds.as_ref()?;
        let pods: Vec<_> = self
            .topology
            .workloads
            .iter()
            .filter(|w| w.selected_by(selector))
            .collect();
        let all_injected =
            !pods.is_empty() && pods.iter().all(|w| self.plan.sidecars.contains_key(w.name));
        let on = match policy.tls.as_ref().map(|t| t.mode) {
            Some(ClientTlsMode::IstioMutual) => true,
            Some(_) => false,
            None => all_injected,
        };
        let mut peers: Vec<String> = pods
            .iter()
            .map(|w| {
                SpiffeId::new(&w.namespace, &w.service_account)
                    .uri()
                    .to_string()
            })
            .collect();
        peers.dedup();
        let sni = format!("outbound_.{}_.{}_.{}", name.port, name.subset, name.fqdn);
        on.then(|| sds.upstream(sni, &peers))
    }
}

/// One cluster with the traffic policy of its DestinationRule (and subset).
pub(super) fn build_cluster(
    name: ClusterName,
    ports: &[u16],
    policy: &TrafficPolicy,
) -> Result<Cluster, Untranslatable> {
    let pool = policy.connection_pool.clone().unwrap_or_default();
    let tcp = pool.tcp.unwrap_or_default();
    let http = pool.http.unwrap_or_default();
    let connect_timeout = match &tcp.connect_timeout {
        Some(t) => dur(t, "connectionPool.tcp.connectTimeout")?,
        None => Duration::from_secs(10),
    };
    let lb_policy = match policy.load_balancer.as_ref().map(|l| l.simple.as_str()) {
        None | Some("LEAST_REQUEST") | Some("UNSPECIFIED") => LbPolicy::LeastRequest,
        Some("ROUND_ROBIN") => LbPolicy::RoundRobin,
        Some("RANDOM") => LbPolicy::Random,
        Some(other) => {
            return Err(Untranslatable(format!(
                "trafficPolicy.loadBalancer.simple {other:?} is not translated (use ROUND_ROBIN, LEAST_REQUEST or RANDOM)"
            )))
        }
    };
    if let Some(mode @ (ClientTlsMode::Simple | ClientTlsMode::Mutual)) =
        policy.tls.as_ref().map(|t| t.mode)
    {
        let mode = if mode == ClientTlsMode::Simple {
            "SIMPLE"
        } else {
            "MUTUAL"
        };
        return Err(Untranslatable(format!(
            "trafficPolicy.tls.mode {mode} (TLS to a server outside the mesh) is not translated by the local mesh; use ISTIO_MUTUAL or DISABLE"
        )));
    }
    let limit = |v: Option<u32>| v.map(u64::from).unwrap_or(UNLIMITED);
    let common = CommonHttpProtocolOptions {
        max_requests_per_connection: http.max_requests_per_connection,
        idle_timeout: http
            .idle_timeout
            .as_deref()
            .map(|t| dur(t, "connectionPool.http.idleTimeout"))
            .transpose()?,
    };
    let typed_extension_protocol_options =
        (common != CommonHttpProtocolOptions::default()).then(|| ProtocolOptions {
            http: Any::new(HttpProtocolOptions {
                common_http_protocol_options: common,
                explicit_http_config: ExplicitHttpConfig::default(),
            }),
        });
    let (outlier_detection, common_lb_config) = match &policy.outlier_detection {
        None => (None, None),
        Some(od) => (
            Some(outlier_detection(od)?),
            Some(CommonLbConfig {
                healthy_panic_threshold: PercentValue {
                    value: od.min_health_percent.unwrap_or(0),
                },
            }),
        ),
    };
    Ok(Cluster {
        load_assignment: LoadAssignment::loopback(name.clone(), ports),
        discovery_type: DiscoveryType::Static,
        connect_timeout,
        lb_policy,
        circuit_breakers: CircuitBreakers {
            thresholds: vec![Thresholds {
                max_connections: limit(tcp.max_connections),
                max_pending_requests: limit(http.http1_max_pending_requests),
                max_requests: limit(http.http2_max_requests),
                max_retries: limit(http.max_retries),
                track_remaining: true,
            }],
        },
        // Like a pod's readiness probe: a draining or restarting instance gets no new requests.
        health_checks: vec![HealthCheck::readiness(
            (!name.fqdn.is_empty()).then(|| name.fqdn.clone()),
        )],
        typed_extension_protocol_options,
        outlier_detection,
        common_lb_config,
        transport_socket: None,
        name,
    })
}

/// Istio's outlier detection: consecutive errors eject always (enforcing 100%), success
/// rate never. An ejection lasts its `baseEjectionTime` as in the cluster: the local mesh
/// stands for the kubelet's readiness probes with Envoy's active health checks (`/readyz`),
/// whose next pass would otherwise uneject a pod that answers `/readyz` but fails requests
/// at once (every 0.5 s).
fn outlier_detection(
    od: &crate::istio::OutlierDetection,
) -> Result<OutlierDetection, Untranslatable> {
    let enforcing = |n: u32| if n > 0 { 100 } else { 0 };
    Ok(OutlierDetection {
        consecutive_5xx: od.consecutive_5xx_errors,
        enforcing_consecutive_5xx: od.consecutive_5xx_errors.map_or(0, enforcing),
        consecutive_gateway_failure: od.consecutive_gateway_errors,
        enforcing_consecutive_gateway_failure: od.consecutive_gateway_errors.map(enforcing),
        interval: od
            .interval
            .as_deref()
            .map(|t| dur(t, "outlierDetection.interval"))
            .transpose()?,
        base_ejection_time: od
            .base_ejection_time
            .as_deref()
            .map(|t| dur(t, "outlierDetection.baseEjectionTime"))
            .transpose()?,
        max_ejection_percent: od.max_ejection_percent,
        enforcing_success_rate: 0,
        successful_active_health_check_uneject_host: false,
    })
}
