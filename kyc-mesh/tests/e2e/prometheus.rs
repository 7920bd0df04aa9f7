//! The real Prometheus next to the mesh: `up` starts it (the banner lists it), it scrapes every target
//! (`up == 1`), counts known traffic exactly as sent (Prometheus' own parser reads the services'
//! `/metrics`, in OpenMetrics, which it negotiates), answers each of docs/observability.md's local queries with
//! data for v1 and v2, and stops with the mesh. Needs `prometheus` (`scripts/test.sh` installs Debian's; `KYC_PROMETHEUS_BIN` names another).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::http::{client, get};
use crate::helpers::mesh::{alive, children, Mesh, MeshSpec};
use crate::helpers::{free_port, poll_async, repo_networking};

const WAIT: Duration = Duration::from_secs(90);

pub fn prometheus_binary() -> PathBuf {
    let explicit = std::env::var_os("KYC_PROMETHEUS_BIN").map(PathBuf::from);
    kyc_mesh::prometheus::find(explicit.as_deref()).unwrap_or_else(|| {
        panic!("Prometheus is required by this test: `sudo apt-get install prometheus` (scripts/test.sh does) or set KYC_PROMETHEUS_BIN")
    })
}

/// The PromQL lines of docs/observability.md's block `<!-- promql: NAME begin -->` … `end`.
pub fn documented_queries(name: &str) -> Vec<String> {
    let guide = std::fs::read_to_string(repo_networking().join("../docs/observability.md"))
        .expect("docs/observability.md");
    let begin = format!("<!-- promql: {name} begin -->");
    let end = format!("<!-- promql: {name} end -->");
    let block = guide
        .split(&begin)
        .nth(1)
        .and_then(|rest| rest.split(&end).next())
        .unwrap_or_else(|| panic!("docs/observability.md has no {begin} block"));
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("```"))
        .map(str::to_owned)
        .collect()
}

/// The result vector of an instant query (None while Prometheus cannot answer).
pub(crate) async fn query(c: &reqwest::Client, port: u16, promql: &str) -> Option<Vec<Value>> {
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let r = c.get(url).query(&[("query", promql)]).send().await.ok()?;
    let body: Value = r.json().await.ok()?;
    assert_ne!(body["status"], "error", "{promql}: {body}");
    body["data"]["result"].as_array().cloned()
}

fn value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_everything_and_answers_the_documented_queries_per_version() {
    let envoy = require_envoy!();
    let prometheus = prometheus_binary();
    let port = free_port();
    let mesh = tokio::task::spawn_blocking(move || {
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &repo_networking(),
            scenario: None,
            external: None,
            service_env: vec![],
            up_args: vec![
                "--prometheus".into(),
                prometheus.display().to_string(),
                "--prometheus-port".into(),
                port.to_string(),
            ],
        })
    })
    .await
    .expect("start");
    assert!(
        mesh.output()
            .contains(&format!("Prometheus:          http://localhost:{port}/")),
        "{}",
        mesh.output()
    );
    let c = client();

    // Known traffic straight to the basic scorer: 7 answered 200, 3 refused 400.
    let basic = mesh.basic;
    for (demo, n, status) in [("alice", 7, 200), ("nobody", 3, 400)] {
        for _ in 0..n {
            let url = format!("http://127.0.0.1:{basic}/credit-check/basic?demo={demo}");
            assert_eq!(get(&c, &url, &[]).await.status, status);
        }
    }
    // Canary traffic through the gateway until the queries have what they need.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, c, url) = (stop.clone(), c.clone(), mesh.url("/credit-check/report"));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = c.get(&url).send().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // Three services, the gateway, and each sidecar's admin.
    let sidecars = mesh.output().matches("  sidecar kyc-").count();
    poll_async("every target up == 1", WAIT, || async {
        let up = query(&c, port, "up").await?;
        (up.len() == 4 + sidecars && up.iter().all(|s| value(s) == 1.0)).then_some(())
    })
    .await;
    for (code, want) in [("200", 7.0), ("400", 3.0)] {
        let q = format!(
            "sum(http_server_request_duration_seconds_count{{app=\"kyc-credit-check-basic\", version=\"v1\", http_route=\"/credit-check/basic\", http_response_status_code=\"{code}\"}})"
        );
        poll_async(&format!("{q} == {want}"), WAIT, || async {
            let r = query(&c, port, &q).await?;
            (r.first().map(value) == Some(want)).then_some(())
        })
        .await;
    }
    // Prometheus negotiated OpenMetrics (its Accept prefers it) and parsed it: the counter family is
    // `kyc_reports`, typed counter (the text format 0.0.4 names it `kyc_reports_total`).
    poll_async(
        "metadata of the OpenMetrics family kyc_reports",
        WAIT,
        || async {
            let url = format!("http://127.0.0.1:{port}/api/v1/metadata");
            let r = c
                .get(url)
                .query(&[("metric", "kyc_reports")])
                .send()
                .await
                .ok()?;
            let body: Value = r.json().await.ok()?;
            (body["data"]["kyc_reports"][0]["type"] == "counter").then_some(())
        },
    )
    .await;
    let queries = documented_queries("local");
    assert!(queries.len() >= 3, "{queries:?}");
    for q in &queries {
        poll_async(&format!("v1 and v2 in {q}"), WAIT, || async {
            let r = query(&c, port, q).await?;
            let version = |s: &Value| {
                let m = &s["metric"];
                m["destination_version"]
                    .as_str()
                    .or(m["version"].as_str())
                    .map(str::to_owned)
            };
            let has = |v: &str| {
                r.iter()
                    .any(|s| version(s).as_deref() == Some(v) && value(s).is_finite())
            };
            (has("v1") && has("v2")).then_some(())
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = traffic.await;

    let prometheus_pids: Vec<u32> = children(mesh.pid())
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "prometheus")
        })
        .collect();
    assert_eq!(prometheus_pids.len(), 1, "one Prometheus under kyc-mesh");
    let mut mesh = mesh;
    assert!(mesh.stop().success());
    assert!(
        prometheus_pids.iter().all(|p| !alive(*p)),
        "Prometheus stopped with the mesh"
    );
}
