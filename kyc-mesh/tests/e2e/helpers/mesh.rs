//! `kyc-mesh up` as a child process, and what the tests ask it or the OS about it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::backend::Backends;
use super::{free_port, kyc_mesh, poll};

pub struct Mesh {
    pub child: Option<Child>,
    pub gateway: u16,
    pub admin: u16,
    pub aggregator: u16,
    /// The basic scorer's port.
    pub basic: u16,
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
        // Many meshes run at once: only a test that asks for Prometheus (a port of its own) gets one.
        if !spec.up_args.iter().any(|a| a == "--prometheus-port") {
            cmd.arg("--no-prometheus");
        }
        // Likewise the dashboard: only a test that gives it a port gets one.
        if !spec.up_args.iter().any(|a| a == "--dashboard-port") {
            cmd.arg("--no-dashboard");
        }
        // And the OTLP receiver (its standard ports would be shared).
        if !spec.up_args.iter().any(|a| a == "--otlp-http-port") {
            cmd.arg("--no-traces");
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
            basic,
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

    /// One admin stat of this mesh's Envoy, read like kyc-mesh reads it.
    pub async fn stat(&self, name: &str) -> u64 {
        kyc_mesh::apply::Admin::new(self.admin)
            .stat(name)
            .await
            .expect("admin stats")
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

/// `kyc-mesh up --external-services` on `networking` (+ a scenario of networking/scenarios)
/// in front of stand-in backends `b`; the aggregator stand-in learns the gateway port.
pub async fn mesh_with(
    envoy: &Path,
    b: &Backends,
    networking: &Path,
    scenario: Option<&str>,
) -> Mesh {
    let scenario = scenario.map(super::scenario);
    let net = networking.to_path_buf();
    let envoy = envoy.to_path_buf();
    let ports = (b.agg.port, b.basic.port, b.advanced.port);
    let mesh = tokio::task::spawn_blocking(move || {
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &net,
            scenario: scenario.as_deref(),
            external: Some(ports),
            service_env: vec![],
            up_args: vec![],
        })
    })
    .await
    .expect("start mesh");
    b.agg.state.gateway.store(mesh.gateway, Ordering::SeqCst);
    mesh
}

/// The name of one HTTP stat (`fault.delays_injected`) of this mesh's gateway listener, as
/// kyc-mesh names it: stat names come from the translated listener, never retyped.
pub fn gateway_http_stat(mesh: &Mesh, stat: &str) -> String {
    let ports = kyc_mesh::topology::Ports {
        gateway: mesh.gateway,
        admin: mesh.admin,
        ..Default::default()
    };
    kyc_mesh::snapshot::gateway_listener(&mesh.networking, ports)
        .expect("networking/ translates")
        .stat_prefix()
        .http(stat)
}

/// `kyc-mesh split N` against a running gateway (off the async runtime).
pub async fn run_split(gateway: u16, n: usize) -> std::process::Output {
    let (gw, n) = (gateway.to_string(), n.to_string());
    tokio::task::spawn_blocking(move || {
        Command::new(kyc_mesh())
            .args(["--gateway-port", &gw, "split", &n])
            .output()
            .expect("split")
    })
    .await
    .expect("join")
}

/// `kyc-mesh [args]` with this mesh's state directory, networking/ and admin port, off the
/// async runtime.
pub async fn cli(mesh: &Mesh, args: &[&str]) -> std::process::Output {
    let state = mesh.state_dir.path().to_path_buf();
    let net = mesh.networking.clone();
    let admin = mesh.admin.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(kyc_mesh())
            .arg("--networking")
            .arg(&net)
            .args(["--admin-port", &admin])
            .arg("--state-dir")
            .arg(&state)
            .args(&args)
            .output()
            .expect("kyc-mesh")
    })
    .await
    .expect("join")
}

/// A command's stdout then stderr, for assertions and failure messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
