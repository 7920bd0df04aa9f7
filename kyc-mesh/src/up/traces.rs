//! `up`'s own OTLP receiver (issue 19): started before anything that sends to it, then every
//! service and every Envoy is pointed at it — unless the user sent spans elsewhere with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (then `UpOptions::traces` is `None` and nothing changes).
//! A port already taken (another collector) is said once; the mesh runs on without it.

use crate::envoy::telemetry::Collector;
use crate::topology::Topology;
use crate::traces;

use super::options::UpOptions;

/// How often the services' batch processor exports to the local receiver (the SDK's default is
/// 5 s): a request shows in the dashboard within about a second.
const SERVICE_EXPORT_DELAY_MS: &str = "500";

/// Start the receiver of `o.traces`, and point the services (through their environment,
/// before any starts) and the Envoys (`o.telemetry`) at it. `o.traces` then holds the ports
/// it listens on, or `None` when it could not start.
pub(super) async fn start(o: &mut UpOptions, topology: &Topology) -> Option<traces::Running> {
    let config = o.traces?;
    let running = match traces::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "kyc-mesh: {e}; running without the local traces (see --otlp-http-port, --otlp-grpc-port, --no-traces)"
            );
            o.traces = None;
            return None;
        }
    };
    o.traces = Some(traces::Config {
        http_port: running.http_port,
        grpc_port: running.grpc_port,
        ..config
    });
    let collector = Collector::local(running.http_port);
    let endpoint = collector.endpoint();
    o.telemetry.collector = Some(collector);
    o.telemetry.log_receiver = Some(running.grpc_port);
    // Before the user's own `--service-env`, which come later and win.
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_BSP_SCHEDULE_DELAY", SERVICE_EXPORT_DELAY_MS),
    ];
    // The export delay is a tuning the user's environment may already make.
    let env = env
        .iter()
        .filter(|(k, _)| *k != "OTEL_BSP_SCHEDULE_DELAY" || std::env::var_os(k).is_none());
    let ours = topology.workloads.iter().flat_map(|w| {
        env.clone()
            .map(|(k, v)| (w.binary.to_string(), k.to_string(), v.to_string()))
    });
    o.service_env.splice(0..0, ours.collect::<Vec<_>>());
    Some(running)
}
