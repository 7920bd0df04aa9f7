//! One request through the local mesh gives one trace across Envoy, the aggregator and the scorer:
//! `kyc-mesh up` (real Envoy, real binaries) with `OTEL_EXPORTER_OTLP_ENDPOINT` at a local OTLP/HTTP
//! receiver; the gateway (Envoy's OpenTelemetry tracer) → aggregator → gateway → scorer spans share
//! one trace id, and none carries the applicant. Needs Envoy (`KYC_ENVOY_BIN`, or `envoy` on PATH;
//! scripts/test.sh provides it) and `cargo build --workspace --bins`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use kyc_common::testing::{clean_applicant, eventually};
use kyc_system_tests::otlp::receiver;
use kyc_system_tests::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Kills the mesh (SIGTERM: it stops its children) when the test ends.
struct Up(std::process::Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_through_the_mesh_is_one_trace_across_envoy_aggregator_and_scorer() {
    let envoy = std::env::var("KYC_ENVOY_BIN").unwrap_or_else(|_| "envoy".to_owned());
    let otlp = receiver().await;
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let state = std::env::temp_dir().join(format!("kyc-mesh-traces-{}", std::process::id()));
    let networking = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../networking");
    let mut child = Command::new(binary("kyc-mesh"))
        .arg("--networking")
        .arg(&networking)
        .args([
            "--aggregator-port",
            &ports[0].to_string(),
            "--basic-port",
            &ports[1].to_string(),
        ])
        .args([
            "--advanced-port",
            &ports[2].to_string(),
            "--gateway-port",
            &ports[3].to_string(),
        ])
        .args(["--admin-port", &ports[4].to_string(), "--envoy", &envoy])
        .arg("--state-dir")
        .arg(&state)
        .args(["up", "--no-prometheus", "--access-log"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("KYC_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start kyc-mesh ({e}); run `cargo build --workspace --bins`")
        });
    let out = Arc::new(Mutex::new(Vec::<String>::new()));
    if let Some(stdout) = child.stdout.take() {
        let out = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut o) = out.lock() {
                    o.push(line);
                }
            }
        });
    }
    let _up = Up(child);
    let printed = |needle: &'static str| {
        let out = out.clone();
        move || {
            let out = out.clone();
            async move {
                out.lock()
                    .ok()?
                    .iter()
                    .any(|l| l.contains(needle))
                    .then_some(())
            }
        }
    };
    eventually("kyc-mesh up", WAIT, printed("KYC local mesh is up")).await;

    let mut applicant = clean_applicant();
    applicant["firstName"] = serde_json::json!("Zebulon");
    applicant["lastName"] = serde_json::json!("Quarterfield");
    let url = format!("http://127.0.0.1:{}/kyc/v1/customer?type=report", ports[3]);
    let r = client()
        .post(&url)
        .json(&applicant)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);

    let services = ["istio-ingressgateway", "kyc-aggregator-mgt"];
    let trace = eventually(
        "spans of Envoy, the aggregator and a scorer in one trace",
        WAIT,
        || async {
            let spans = otlp.spans();
            let envoy_root = spans
                .iter()
                .find(|s| s.service == services[0] && s.span.parent_span_id.is_empty())?;
            let root_trace = envoy_root.trace_id();
            let trace: Vec<_> = spans
                .into_iter()
                .filter(|s| s.trace_id() == root_trace)
                .collect();
            let seen: HashSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
            let scored = seen.contains("kyc-credit-check-basic")
                || seen.contains("kyc-credit-check-advanced");
            let envoy_spans = trace.iter().filter(|s| s.service == services[0]).count();
            (scored && seen.contains(services[1]) && envoy_spans >= 2).then_some(trace)
        },
    )
    .await;
    // Every span but the first Envoy span has its parent in the trace: one tree, no orphan.
    let ids: HashSet<String> = trace.iter().map(|s| s.span_id()).collect();
    let roots = trace
        .iter()
        .filter(|s| !ids.contains(&s.parent_span_id()))
        .count();
    assert_eq!(roots, 1, "{trace:#?}");
    for span in otlp.spans() {
        let text = span.text();
        for personal in ["Zebulon", "Quarterfield", "firstName"] {
            assert!(!text.contains(personal), "{personal} in a span: {text}");
        }
    }
    // The access log: one line per request, the path without its query string.
    eventually(
        "an access-log line",
        WAIT,
        printed("\"POST /kyc/v1/customer HTTP/1.1\" 200"),
    )
    .await;
    let lines = out.lock().map(|o| o.clone()).unwrap_or_default();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("type=report") && l.contains("HTTP/1.1\"")),
        "query string logged"
    );
    let _ = std::fs::remove_dir_all(&state);
}
