//! What the user sees once the mesh is up (tests wait for its first line).

use std::path::Path;

use crate::topology::Topology;

use super::layout::Layout;
use super::options::UpOptions;

/// What the user sees once the mesh is up (tests wait for its first line).
pub(super) fn banner(o: &UpOptions, topology: &Topology, layout: &Layout, scenario: Option<&Path>) {
    let p = &o.ports;
    println!();
    println!(
        "  KYC local mesh is up (Envoy gateway from {})",
        o.networking.display()
    );
    if let Some(s) = scenario {
        println!("  scenario:            {}", s.display());
    }
    let entry = topology.entry().port;
    println!("  browser:             http://localhost:{entry}/kyc/v1/customer");
    println!(
        "  through the gateway: http://localhost:{}/kyc/v1/customer",
        p.gateway
    );
    for (i, w) in topology.workloads.iter().enumerate() {
        let label = if i == 0 {
            "  Swagger UI:          "
        } else {
            "                       "
        };
        println!(
            "{label}http://localhost:{}/swagger-ui/  ({})",
            w.port, w.role
        );
    }
    println!("  Envoy admin:         http://localhost:{}/", p.admin);
    if let Some(port) = o.dashboard_port {
        println!("  dashboard:           http://localhost:{port}/");
    }
    match (&o.traces, &o.telemetry.collector) {
        (Some(t), _) => println!(
            "  traces:              OTLP receiver on 127.0.0.1:{} (HTTP) and :{} (gRPC), shown in the dashboard",
            t.http_port, t.grpc_port
        ),
        (None, Some(c)) => println!("  traces:              sent to {} (OTEL_EXPORTER_OTLP_*)", c.uri),
        (None, None) => {}
    }
    if let Some(dir) = &o.record {
        println!(
            "  recording:           {} (replay it: kyc-mesh replay {})",
            dir.display(),
            dir.display()
        );
    }
    if layout.plan.sidecars.is_empty() {
        println!("  sidecars:            none (edge only)");
    }
    for w in &topology.workloads {
        let pods = layout.pods.get(w.name).map_or(&[][..], Vec::as_slice);
        if w.replicas != 1 && !o.external_services {
            println!(
                "  {}: {} instances (replicas: {})",
                w.name,
                pods.len(),
                w.replicas
            );
        }
        for pod in pods {
            match pod.sidecar {
                Some(s) => println!(
                    "  sidecar {}: inbound :{} → app :{}, outbound :{}, admin http://localhost:{}/",
                    pod.name, s.inbound, pod.app, s.outbound, s.admin
                ),
                None if pods.len() > 1 => println!("  instance {}: app :{}", pod.name, pod.app),
                None => {}
            }
        }
    }
    if o.prometheus.is_some() {
        let port = o.prometheus_port;
        println!("  Prometheus:          http://localhost:{port}/  (scrapes every 2 s)");
    }
    println!(
        "  watch the split:     kyc-mesh split 100 --gateway-port {}",
        p.gateway
    );
    println!("  edit networking/*.yaml to change routing live; Ctrl-C stops everything");
    println!();
}
