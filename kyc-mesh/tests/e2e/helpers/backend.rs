//! Stand-in HTTP backends on 127.0.0.1:0 that answer like the KYC services.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ADVANCED, AGG, BASIC};

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
