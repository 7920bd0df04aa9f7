//! `kyc-mesh canary --cluster` against stand-ins: a Prometheus HTTP API (an axum server
//! answering Istio's queries from a script: healthy, failing, empty) and a `kubectl` that
//! records its arguments. Checks Flagger's PromQL and the JSON patches sent.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::helpers::{kyc_mesh, repo_networking, ADVANCED};

#[derive(Clone, Copy, PartialEq)]
enum Script {
    Healthy,
    Failing,
    Empty,
}

#[derive(Clone)]
struct Prom {
    script: Script,
    queries: Arc<Mutex<Vec<String>>>,
}

async fn query(State(p): State<Prom>, Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
    let query = q
        .into_iter()
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v)
        .unwrap_or_default();
    p.queries.lock().expect("lock").push(query.clone());
    let canary = query.contains(&format!("destination_workload=\"{ADVANCED}\""));
    let value = match p.script {
        Script::Empty => None,
        _ if query.starts_with("histogram_quantile") => Some(12.0),
        Script::Failing if canary && query.contains("response_code") => Some(70.0),
        _ => Some(100.0),
    };
    let result: Vec<Value> = value
        .map(|v| json!({"metric": {}, "value": [1_700_000_000.0, v.to_string()]}))
        .into_iter()
        .collect();
    Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
}

async fn prometheus(script: Script) -> (String, Arc<Mutex<Vec<String>>>) {
    let queries = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/api/v1/query", get(query))
        .with_state(Prom {
            script,
            queries: queries.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), queries)
}

/// A `kubectl` that appends its arguments (one call a line) to `log` and succeeds.
fn kubectl(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let log = dir.join("kubectl.log");
    let script = dir.join("kubectl");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n", log.display()),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, log)
}

async fn run(script: Script) -> (i32, String, Vec<String>, Vec<String>) {
    let (url, queries) = prometheus(script).await;
    let dir = tempfile::tempdir().expect("tmp");
    let (kubectl, log) = kubectl(dir.path());
    let net = repo_networking();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(kyc_mesh())
            .arg("--networking")
            .arg(&net)
            .args(["canary", "--cluster", "--prometheus-url", &url])
            .args(["--context", "minikube", "--namespace", "kyc"])
            .arg("--kubectl")
            .arg(&kubectl)
            .args(["--interval", "200ms", "--step-weight", "50"])
            .output()
            .expect("kyc-mesh canary --cluster")
    })
    .await
    .expect("join");
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let queries = queries.lock().expect("lock").clone();
    (out.status.code().unwrap_or(-1), text, calls, queries)
}

/// The canary weight a recorded `kubectl patch` gave.
fn canary_weight(call: &str) -> u64 {
    let patch = call.split(" -p ").nth(1).expect("a -p argument");
    let ops: Value = serde_json::from_str(patch).expect("JSON patch");
    assert_eq!(ops[0]["op"], "test", "{call}");
    assert_eq!(ops[0]["path"], "/spec/http/2/name", "{call}");
    assert_eq!(ops[0]["value"], "credit-check-report", "{call}");
    assert_eq!(ops[2]["path"], "/spec/http/2/route/1/weight", "{call}");
    ops[2]["value"].as_u64().expect("weight")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_promotes_a_healthy_canary_with_flaggers_queries() {
    let (code, text, calls, queries) = run(Script::Healthy).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("PROMOTED"), "{text}");
    assert!(
        calls.iter().all(|c| {
            c.starts_with(
        "--context minikube --namespace kyc patch virtualservice kyc-credit-check --type=json -p "
    )
        }),
        "{calls:?}"
    );
    let weights: Vec<u64> = calls.iter().map(|c| canary_weight(c)).collect();
    assert_eq!(weights, [50, 100, 100], "{calls:?}");
    let q = queries.join("\n");
    assert!(q.contains(r#"sum(increase(istio_requests_total{reporter="destination",destination_workload_namespace="kyc",destination_workload="kyc-credit-check-advanced"}[1s]))"#), "{q}");
    assert!(q.contains(r#"response_code!~"5.*""#), "{q}");
    assert!(
        q.contains("histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{"),
        "{q}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_rolls_back_a_failing_canary_and_on_no_data() {
    let (code, text, calls, _) = run(Script::Failing).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("FAIL: success rate 70.0% < 99%"), "{text}");
    let weights: Vec<u64> = calls.iter().map(|c| canary_weight(c)).collect();
    assert_eq!(weights, [50, 0], "{calls:?}");
    let (code, text, calls, _) = run(Script::Empty).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("NO DATA: no data: 0 requests"), "{text}");
    assert_eq!(calls.last().map(|c| canary_weight(c)), Some(0), "{calls:?}");
}
