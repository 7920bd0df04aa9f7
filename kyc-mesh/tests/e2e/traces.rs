//! Seeing the mesh without a cluster (issue 19), on one real mesh (real services, sidecars,
//! Envoys) with `up`'s OTLP receiver on free ports, the dashboard and `--record`:
//!
//! - one request through the gateway is one trace across every hop (ingress gateway, the
//!   aggregator's sidecar, the aggregator and its call, its sidecar's outbound, the gateway's
//!   mesh route, the scorer's sidecar, the scorer), each Envoy hop with its access-log line
//!   (the trace id in it), no applicant data anywhere;
//! - bad OTLP is a 400 and a counter the dashboard shows;
//! - with chaos on the canary, a real Chromium clicks the success rate of the edge to it, gets
//!   its failing traces, and opens one's waterfall with the failed attempt in red;
//! - `canary --report-html` / `--report-json` of a rolled-back run, the HTML rendered by
//!   Chromium with its charts, and the dashboard's download;
//! - `up` killed with SIGKILL leaves a readable recording: `kyc-mesh replay` serves it
//!   read-only (writes 405), and Chromium moves its time slider to the rollback.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::browser::token;
use crate::helpers::cdp::{Browser, Page};
use crate::helpers::http::client;
use crate::helpers::mesh::Mesh;
use crate::helpers::{free_port, kyc_mesh, poll_async, repo_networking, ADVANCED, AGG};
use crate::services::start_with;

const WAIT: Duration = Duration::from_secs(60);

/// The names no trace, log line or recording may carry.
const PERSONAL: [&str; 4] = ["Zebulon", "Quarterfield", "firstName", "ZQ9876543"];

struct Dash {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Dash {
    async fn open(port: u16) -> Dash {
        let http = client();
        let base = format!("http://127.0.0.1:{port}");
        let page = http
            .get(&base)
            .send()
            .await
            .expect("GET /")
            .text()
            .await
            .expect("page");
        Dash {
            token: token(&page),
            base,
            http,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn write(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-KYC-Token", &self.token)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("write");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn no_personal_data(what: &str, text: &str) {
    for p in PERSONAL {
        assert!(!text.contains(p), "{p} in {what}: {text}");
    }
}

/// The hop kinds of a waterfall, in order, with their workload.
pub(crate) fn hops(detail: &Value) -> Vec<String> {
    detail["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| {
            let h = &s["hop"];
            match h["workload"].as_str() {
                Some(w) => format!("{} {w}", h["kind"].as_str().unwrap_or("")),
                None => h["kind"].as_str().unwrap_or("").to_string(),
            }
        })
        .collect()
}

/// The server spans of the Envoys (gateway, sidecars) in a waterfall.
fn envoy_servers(detail: &Value) -> impl Iterator<Item = &Value> {
    detail["spans"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            [
                "ingress",
                "mesh-route",
                "sidecar-inbound",
                "sidecar-outbound",
            ]
            .contains(&s["hop"]["kind"].as_str().unwrap_or(""))
                && s["kind"] == "server"
        })
}

/// The first step: one request, every hop, its access-log lines.
async fn one_request_is_one_trace_across_every_hop(mesh: &Mesh, dash: &Dash) {
    let applicant = json!({"firstName": "Zebulon", "lastName": "Quarterfield", "dateOfBirth": "1990-04-12",
        "gender": "male", "maritalStatus": "single", "citizenship": "FR", "currentResidenceCountry": "FRA",
        "passportNumber": "ZQ9876543", "passportExpiryDate": "2031-09-30", "passportCountryOfIssue": "FR"});
    let r = client()
        .post(mesh.url("/kyc/v1/customer?type=report"))
        .json(&applicant)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let detail = poll_async("one trace across every hop", WAIT, || async {
        let (_, list) = dash.get("/api/traces?limit=50").await;
        for t in list["traces"].as_array()? {
            let id = t["traceId"].as_str()?;
            let (status, d) = dash.get(&format!("/api/traces/{id}")).await;
            let h = hops(&d);
            let whole = status == 200
                && d["entry"] == "POST /kyc/v1/customer"
                && h.iter().any(|x| x.starts_with("service kyc-credit-check-"))
                && h.iter()
                    .any(|x| x.starts_with("sidecar-inbound kyc-credit-check-"))
                && h.iter().any(|x| x == "mesh-route")
                && envoy_servers(&d)
                    .all(|s| s["accessLog"].as_array().is_some_and(|l| !l.is_empty()));
            if whole {
                return Some(d);
            }
        }
        None
    })
    .await;
    let id = detail["traceId"].as_str().expect("id").to_string();
    let h = hops(&detail);
    let scorer = h
        .iter()
        .find_map(|x| x.strip_prefix("service kyc-credit-check-"))
        .map(|s| format!("kyc-credit-check-{s}"))
        .expect("a scorer");
    // Every hop, in the order of the request (attempts of the proxies between them).
    let path: Vec<String> = h.iter().filter(|x| !x.is_empty()).cloned().collect();
    let want = [
        "ingress".to_string(),
        format!("sidecar-inbound {AGG}"),
        format!("service {AGG}"),
        format!("call {AGG}"),
        format!("sidecar-outbound {AGG}"),
        "mesh-route".to_string(),
        format!("sidecar-inbound {scorer}"),
        format!("service {scorer}"),
    ];
    let mut at = 0;
    for w in &want {
        at += path[at..]
            .iter()
            .position(|x| x == w)
            .unwrap_or_else(|| panic!("{w} after position {at} in {path:?}"));
    }
    let spans = detail["spans"].as_array().expect("spans");
    assert!(spans
        .iter()
        .all(|s| !s["label"].as_str().unwrap_or("").is_empty()));
    // Each Envoy's server span shows its access-log line, which carries the trace id.
    assert_eq!(
        envoy_servers(&detail).count(),
        5,
        "every Envoy's span: {detail}"
    );
    for s in envoy_servers(&detail) {
        let lines = s["accessLog"]
            .as_array()
            .unwrap_or_else(|| panic!("no access-log line beside {}", s["label"]));
        assert!(
            lines.iter().any(|l| l
                .as_str()
                .is_some_and(|l| l.contains(&format!("trace_id={id}")))),
            "{s}"
        );
    }
    mesh.wait_output(&format!("trace_id={id}"));
    no_personal_data("the trace", &detail.to_string());
}

/// Bad OTLP: refused with a reason, counted, shown.
async fn bad_otlp_is_refused_and_counted(http_port: u16, dash: &Dash) {
    let r = client()
        .post(format!("http://127.0.0.1:{http_port}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(vec![0xffu8; 64])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let (_, list) = dash.get("/api/traces?limit=1").await;
    assert!(
        list["receiver"]["payloadsRejected"].as_u64() >= Some(1),
        "{list}"
    );
}

/// Chaos on the canary: from the edge's success rate, one click to its failing traces, one more
/// to a waterfall with the failed attempt.
fn the_failing_traces_are_one_click_from_the_edge(b: &mut Browser, page: &Page) {
    let edge = format!(r##"g.edge[data-from="gateway-mesh"][data-to="{ADVANCED}"]"##);
    b.wait_for(
        page,
        "the edge to the canary with its success rate",
        WAIT,
        &format!(r##"document.querySelector('{edge} [data-pick="errors"]') && !document.querySelector('{edge} [data-pick="errors"]').textContent.startsWith("100")"##),
    );
    b.click(page, &format!(r##"{edge} [data-pick="errors"]"##));
    b.wait_for(
        page,
        "the edge's failing traces",
        WAIT,
        r##"document.querySelector("#trace-list tbody tr[data-trace]") && document.querySelector("#t-errors").checked"##,
    );
    let filter = b.eval(
        page,
        r##"document.querySelector("#traces .filters .tag").textContent"##,
    );
    assert!(
        filter.as_str().is_some_and(|t| t.contains(ADVANCED)),
        "{filter}"
    );
    b.click(page, "#trace-list tbody tr[data-trace]");
    b.wait_for_or(
        page,
        "the waterfall with a failed hop",
        WAIT,
        r##"tf.selected && document.querySelector('#waterfall h3') && document.querySelector('#waterfall h3').textContent.includes(tf.selected) && document.querySelectorAll('#waterfall .wf-span[data-error="true"]').length > 0"##,
        r##"JSON.stringify({selected: tf.selected, heading: document.querySelector('#waterfall h3') && document.querySelector('#waterfall h3').textContent, spans: [...document.querySelectorAll('#waterfall .wf-span')].map((e) => e.dataset.hop + ':' + e.dataset.error), rows: document.querySelectorAll('#trace-list tbody tr[data-trace]').length})"##,
    );
    // The access-log lines of the Envoys beside their spans (they come within a second or two).
    b.wait_for_or(
        page,
        "access-log lines beside the Envoy spans",
        WAIT,
        "document.querySelectorAll('#waterfall [data-access-log]').length >= 4",
        "JSON.stringify({selected: tf.selected, lines: document.querySelectorAll('#waterfall [data-access-log]').length})",
    );
}

/// `canary --report-html/--report-json`: a rolled-back run's report, its charts drawn by Chromium.
fn the_canary_report(mesh: &Mesh, dir: &Path, b: &mut Browser) -> Value {
    let (html, json_file) = (dir.join("report.html"), dir.join("report.json"));
    let out = std::process::Command::new(kyc_mesh())
        .arg("--networking")
        .arg(repo_networking())
        .args(["--admin-port", &mesh.admin.to_string()])
        .arg("--state-dir")
        .arg(mesh.state_dir.path())
        .args([
            "canary",
            "--interval",
            "1s",
            "--step-weight",
            "50",
            "--threshold",
            "1",
            "--min-requests",
            "5",
            "--load",
            "30",
        ])
        .arg("--report-html")
        .arg(&html)
        .arg("--report-json")
        .arg(&json_file)
        .output()
        .expect("kyc-mesh canary");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "rolled back: {printed}");
    assert!(printed.contains("report (HTML)"), "{printed}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(&json_file).expect("json report")).expect("JSON");
    assert_eq!(report["outcome"]["phase"], "rolled-back");
    let failing = report["outcome"]["traces"]["failing"]
        .as_array()
        .expect("trace links");
    assert!(
        failing
            .iter()
            .any(|l| l["host"] == ADVANCED && l["error"] == true),
        "{report}"
    );
    let page = b.open(&format!("file://{}", html.display()));
    let drawn = b.wait_for(
        &page,
        "the report's charts",
        WAIT,
        r##"["weight", "success", "p99"].every((id) => { const s = document.getElementById(id); return s && s.getBoundingClientRect().width > 300 && s.querySelectorAll("path, circle").length > 1; }) && document.querySelectorAll("line[data-threshold]").length === 2 && document.getElementById("outcome").textContent"##,
    );
    assert_eq!(drawn, "rolled back");
    let scripts = b.eval(&page, "document.scripts.length");
    assert_eq!(scripts, 0);
    let fails = b.eval(
        &page,
        r##"document.querySelectorAll('[data-verdict="FAIL"]').length"##,
    );
    assert!(fails.as_u64() >= Some(1), "{fails}");
    no_personal_data("the report", &std::fs::read_to_string(&html).expect("html"));
    report
}

/// A child process killed when the test ends, passed or not.
struct Stops(std::process::Child);

impl Drop for Stops {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGKILL, then `kyc-mesh replay` of what was recorded: read-only, the slider at the end shows
/// the rollback.
async fn the_recording_replays_after_a_crash(mesh: &mut Mesh, rec: &Path, b: &mut Browser) {
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(mesh.pid() as i32, libc::SIGKILL);
    }
    let _ = mesh.wait_exit();
    for file in ["session.jsonl", "traces.jsonl", "meta.json"] {
        let text = std::fs::read_to_string(rec.join(file)).expect(file);
        no_personal_data(file, &text);
    }
    let port = free_port();
    let _replay = Stops(
        std::process::Command::new(kyc_mesh())
            .arg("replay")
            .arg(rec)
            .args(["--dashboard-port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("kyc-mesh replay"),
    );
    let http = client();
    let base = format!("http://127.0.0.1:{port}");
    let info: Value = poll_async("the replay", WAIT, || async {
        http.get(format!("{base}/api/replay"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    })
    .await;
    assert!(info["endMs"].as_u64() > info["startMs"].as_u64(), "{info}");
    assert!(info["traces"].as_u64() > Some(0), "{info}");
    let w = http
        .put(format!("{base}/api/weights"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("put");
    assert_eq!(w.status(), 405);
    let refusal: Value = w.json().await.expect("json");
    assert!(
        refusal["error"]
            .as_str()
            .is_some_and(|e| e.contains("read-only replay")),
        "{refusal}"
    );
    let page = b.open(&format!("{base}/"));
    b.wait_for(
        &page,
        "the replay's slider",
        WAIT,
        "document.querySelector('#replay-at') && !document.querySelector('#replay-bar').hidden",
    );
    assert_eq!(
        b.eval(&page, "document.querySelector('#status').textContent"),
        "replay · read-only"
    );
    // To the end with the keyboard: the state then is the rolled-back canary.
    b.click(&page, "#replay-at");
    b.press(&page, "End", 35);
    b.wait_for_or(
        &page,
        "the rolled-back canary at the end",
        WAIT,
        r##"document.querySelector("#canary .phase") && document.querySelector("#canary .phase").textContent === "rolled-back""##,
        r##"JSON.stringify({replay: {at: replay.at, end: replay.endMs, fetched: replay.fetched, busy: replay.busy, playing: replay.playing}, slider: document.querySelector("#replay-at").value, canary: last && last.canary, updated: last && last.updatedMs})"##,
    );
    assert_eq!(
        b.eval(&page, "document.querySelector('#replay-play').textContent"),
        "play",
        "seeking pauses"
    );
    let disabled = b.eval(&page, r##"[...document.querySelectorAll("main button, main input")].filter((e) => !e.closest("#traces-card")).every((e) => e.disabled)"##);
    assert_eq!(disabled, true, "every control is off in a replay");
    b.wait_for(
        &page,
        "the recorded traces",
        WAIT,
        r##"document.querySelectorAll("#trace-list tbody tr[data-trace]").length > 0"##,
    );
    // Back to the start, then play at 10x: time moves.
    b.press(&page, "Home", 36);
    let at_start = b.eval(&page, "Number(document.querySelector('#replay-at').value)");
    b.eval(&page, "(() => { const s = document.querySelector('#replay-speed'); s.value = '10'; s.dispatchEvent(new Event('change')); })()");
    b.click(&page, "#replay-play");
    let moved = format!("Number(document.querySelector('#replay-at').value) > {at_start} + 5000");
    let deadline = std::time::Instant::now() + WAIT;
    while b.eval(&page, &moved) != true {
        let state = b.eval(&page, "JSON.stringify({at: replay.at, playing: replay.playing, speed: replay.speed, end: replay.endMs, busy: replay.busy, active: document.activeElement.id})");
        assert!(
            std::time::Instant::now() < deadline,
            "the slider did not move: {state}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_per_request_across_every_hop_a_failing_canary_one_click_from_its_edge_and_its_replay(
) {
    let envoy = require_envoy!();
    let (dash_port, http_port, grpc_port) = (free_port(), free_port(), free_port());
    let work = tempfile::tempdir().expect("dir");
    let rec = work.path().join("session");
    let args: Vec<String> = [
        "--dashboard-port",
        &dash_port.to_string(),
        "--otlp-http-port",
        &http_port.to_string(),
        "--otlp-grpc-port",
        &grpc_port.to_string(),
        "--access-log",
        "--record",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([rec.display().to_string()])
    .collect();
    let mut mesh = start_with(envoy, repo_networking(), vec![], args).await;
    assert!(
        mesh.output().contains(&format!(
            "OTLP receiver on 127.0.0.1:{http_port} (HTTP) and :{grpc_port} (gRPC)"
        )),
        "{}",
        mesh.output()
    );
    let dash = Dash::open(dash_port).await;
    one_request_is_one_trace_across_every_hop(&mesh, &dash).await;
    bad_otlp_is_refused_and_counted(http_port, &dash).await;

    // Chaos on the canary while the load generator runs: its requests fail after retries.
    let (status, a) = dash
        .write(
            reqwest::Method::PUT,
            &format!("/api/chaos/{ADVANCED}"),
            json!({"errorRate": 1.0, "delayMs": 0}),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    let (status, a) = dash
        .write(reqwest::Method::PUT, "/api/load", json!({"rps": 20}))
        .await;
    assert_eq!(status, 200, "{a}");
    let page_url = format!("http://127.0.0.1:{dash_port}/");
    let work_dir = work.path().to_path_buf();
    let (mut browser, mesh_back) = tokio::task::spawn_blocking(move || {
        let mut b = Browser::start();
        let page = b.open(&page_url);
        the_failing_traces_are_one_click_from_the_edge(&mut b, &page);
        (b, mesh)
    })
    .await
    .expect("browser");
    mesh = mesh_back;
    let (status, a) = dash
        .write(reqwest::Method::PUT, "/api/load", json!({"rps": 0}))
        .await;
    assert_eq!(status, 200, "{a}");

    let (mut browser, mesh_back, report) = tokio::task::spawn_blocking(move || {
        let report = the_canary_report(&mesh, &work_dir, &mut browser);
        (browser, mesh, report)
    })
    .await
    .expect("canary");
    mesh = mesh_back;
    // The dashboard's download: the same run.
    let r = client()
        .get(format!(
            "http://127.0.0.1:{dash_port}/api/canary/report.html"
        ))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("canary-report.html")));
    let html = r.text().await.expect("html");
    assert!(
        html.contains("rolled back") && html.contains("<svg id=\"weight\""),
        "{html}"
    );
    let first_link = report["outcome"]["traces"]["failing"][0]["traceId"]
        .as_str()
        .expect("link")
        .to_string();
    assert!(
        html.contains(&first_link),
        "the download links the run's failing traces"
    );
    // The recorder keeps the traces a finished canary links to.
    let recorded = poll_async("the linked trace in the recording", WAIT, || async {
        let text = std::fs::read_to_string(rec.join("traces.jsonl")).ok()?;
        text.contains(&first_link).then_some(text)
    })
    .await;
    no_personal_data("traces.jsonl", &recorded);

    let rec2 = rec.clone();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(the_recording_replays_after_a_crash(
            &mut mesh,
            &rec2,
            &mut browser,
        ));
    })
    .await
    .expect("replay");
}
