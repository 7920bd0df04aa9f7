//! Real services on loopback for the tests across services: the three services in process on port 0
//! (zero-to-production's `spawn_app`), stand-in gateways, and the real binaries as child processes.
//!
//! The tests are in `tests/`: `chain.rs` (aggregator → stand-in gateway → scorers), `processes.rs` (the
//! real binaries), `traces.rs` (spans at a local OTLP receiver, [`otlp`]), `browser.rs` (headless
//! Chromium), `manifests.rs` (networking/ against the services), `hostile.rs` (slow, large and many
//! connections; raw TCP clients in [`raw`]), `overload.rs` (load shedding, the aggregator's outbound
//! limit, the chaos delay).

pub mod otlp;
pub mod raw;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use kyc_common::configuration::{EnvSource, ServiceSettings};
use kyc_common::server::Server;
use kyc_common::testing::eventually;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(15);

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn env(vars: &[(&str, &str)]) -> EnvSource {
    let mut map: HashMap<String, String> = [("KYC_HOST", "127.0.0.1"), ("KYC_PORT", "0")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    EnvSource::Map(map)
}

/// A service running in this process.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends the shutdown signal (what SIGTERM does in the binary).
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn run(server: Result<Server, String>) -> Running {
    let server = server.expect("service builds and binds");
    let addr = server.local_addr().expect("bound address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

pub async fn spawn_basic(vars: &[(&str, &str)]) -> Running {
    let settings =
        kyc_credit_check_basic::configuration::Settings::load_from(env(vars)).expect("settings");
    run(kyc_credit_check_basic::startup::build(settings).await).await
}

pub async fn spawn_advanced(vars: &[(&str, &str)]) -> Running {
    let settings =
        kyc_credit_check_advanced::configuration::Settings::load_from(env(vars)).expect("settings");
    run(kyc_credit_check_advanced::startup::build(settings).await).await
}

pub async fn spawn_aggregator(gateway: &str, vars: &[(&str, &str)]) -> Running {
    let mut all = vec![("KYC_GATEWAY_URL", gateway)];
    all.extend_from_slice(vars);
    let settings =
        kyc_aggregator_mgt::configuration::Settings::load_from(env(&all)).expect("settings");
    run(kyc_aggregator_mgt::startup::build(settings).await).await
}

/// What a stand-in gateway received.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<(String, HeaderMap)>>>);

impl Seen {
    pub fn requests(&self) -> Vec<(String, HeaderMap)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn record(&self, path: &str, headers: &HeaderMap) {
        if let Ok(mut v) = self.0.lock() {
            v.push((path.to_owned(), headers.clone()));
        }
    }
}

pub struct Gateway {
    pub addr: SocketAddr,
    pub seen: Seen,
}

impl Gateway {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[derive(Clone)]
struct Routing {
    basic: SocketAddr,
    advanced: SocketAddr,
    next: Arc<AtomicUsize>,
    seen: Seen,
    http: reqwest::Client,
}

/// A stand-in for the mesh's gateway: `/credit-check/basic` → basic, `/credit-check/advanced` →
/// advanced, `/credit-check/report` → the two in turn (a deterministic 50/50). A real HTTP proxy.
pub async fn spawn_gateway(basic: SocketAddr, advanced: SocketAddr) -> Gateway {
    let seen = Seen::default();
    let routing = Routing {
        basic,
        advanced,
        next: Arc::new(AtomicUsize::new(0)),
        seen: seen.clone(),
        http: client(),
    };
    let router = Router::new().fallback(proxy).with_state(routing);
    Gateway {
        addr: serve(router).await,
        seen,
    }
}

async fn proxy(State(r): State<Routing>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    r.seen.record(&path, request.headers());
    let target = match path.as_str() {
        "/credit-check/basic" => r.basic,
        "/credit-check/advanced" => r.advanced,
        "/credit-check/report" if r.next.fetch_add(1, Ordering::SeqCst) % 2 == 0 => r.basic,
        "/credit-check/report" => r.advanced,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let method = request.method().clone();
    let mut headers = request.headers().clone();
    headers.remove("host");
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let answer = r
        .http
        .request(method, format!("http://{target}{path}{query}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// A gateway that answers every request with `status` and `body`.
pub async fn spawn_canned_gateway(status: StatusCode, body: &'static str) -> Gateway {
    let seen = Seen::default();
    let recorder = seen.clone();
    let router = Router::new().fallback(move |request: Request| {
        let recorder = recorder.clone();
        async move {
            recorder.record(request.uri().path(), request.headers());
            (status, [("content-type", "application/json")], body).into_response()
        }
    });
    Gateway {
        addr: serve(router).await,
        seen,
    }
}

/// A gateway that accepts connections and never answers.
pub async fn spawn_hanging_gateway() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// A loopback address where nothing listens.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

/// A gateway that reports each request's arrival and answers only once released.
pub struct GatedGateway {
    pub addr: SocketAddr,
    pub arrived: mpsc::UnboundedReceiver<()>,
    pub release: watch::Sender<bool>,
}

pub async fn spawn_gated_gateway(report: &'static str) -> GatedGateway {
    let (arrived_tx, arrived) = mpsc::unbounded_channel();
    let (release, released) = watch::channel(false);
    let router = Router::new().fallback(move || {
        let arrived_tx = arrived_tx.clone();
        let mut released = released.clone();
        async move {
            let _ = arrived_tx.send(());
            let _ = released.wait_for(|open| *open).await;
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                Bytes::from_static(report.as_bytes()),
            )
                .into_response()
        }
    });
    GatedGateway {
        addr: serve(router).await,
        arrived,
        release,
    }
}

/// One of the real binaries, run as a child process with its output captured.
pub struct Child {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub process: tokio::process::Child,
    pub output: Arc<Mutex<Vec<String>>>,
}

/// The path of a workspace binary: in the target directory this test runs from (`target/debug`, the
/// test itself being in `target/debug/deps`); scripts/test.sh builds them all.
pub fn binary(name: &str) -> std::path::PathBuf {
    let test = std::env::current_exe().expect("the test knows its own path");
    let deps = test.parent().expect("the test is in a directory");
    let path = deps.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

impl Child {
    /// Starts `name` on a free loopback port and waits for its `listening` line.
    pub async fn start(name: &'static str, vars: &[(&str, &str)]) -> Child {
        let mut command = tokio::process::Command::new(binary(name));
        command
            .env("KYC_HOST", "127.0.0.1")
            .env("KYC_PORT", "0")
            .env("KYC_LOG_FORMAT", "json")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut process = command.spawn().expect("spawn");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, mut addr_rx) = mpsc::unbounded_channel::<SocketAddr>();
        if let Some(stdout) = process.stdout.take() {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
                        if json["message"] == "listening" {
                            if let Some(addr) = json["addr"].as_str().and_then(|a| a.parse().ok()) {
                                let _ = addr_tx.send(addr);
                            }
                        }
                    }
                    if let Ok(mut o) = output.lock() {
                        o.push(line);
                    }
                }
            });
        }
        if let Some(stderr) = process.stderr.take() {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut o) = output.lock() {
                        o.push(line);
                    }
                }
            });
        }
        let addr = tokio::time::timeout(WAIT, addr_rx.recv())
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                panic!(
                    "{name} did not start: {:?}",
                    output.lock().map(|o| o.clone())
                )
            });
        let child = Child {
            name,
            addr,
            process,
            output,
        };
        let ready = child.url("/readyz");
        eventually(&format!("{name} ready"), WAIT, || async {
            let r = client().get(&ready).send().await.ok()?;
            (r.status() == StatusCode::OK).then_some(())
        })
        .await;
        child
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn sigterm(&self) {
        let pid = self.process.id().expect("running child has a pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Waits for the exit, returns the exit code and everything the process printed.
    pub async fn wait(mut self) -> (Option<i32>, Vec<String>) {
        let status = tokio::time::timeout(WAIT, self.process.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit after SIGTERM", self.name))
            .expect("wait");
        // The readers finish when the pipes close; poll until the last line is in.
        let output = self.output.clone();
        let lines = eventually("output drained", WAIT, || {
            let output = output.clone();
            async move {
                let lines = output.lock().ok()?.clone();
                lines
                    .iter()
                    .any(|l| l.contains("\"stopped\""))
                    .then_some(lines)
            }
        })
        .await;
        (status.code(), lines)
    }
}
