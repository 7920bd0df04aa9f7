//! The local OTLP receiver of `kyc-mesh up` (issue 19): the services and every Envoy send
//! their spans here (unless `OTEL_EXPORTER_OTLP_ENDPOINT` sends them elsewhere), and the
//! dashboard shows them. Nothing to install: OTLP/HTTP on 127.0.0.1:4318 and OTLP/gRPC on
//! 127.0.0.1:4317, decoded with the official protobuf types, kept in a bounded store.
//!
//! - [`model`]: a span and an access-log line as kept (shown attributes only);
//! - [`decode`]: OTLP (protobuf or JSON) → the model, errors naming what is wrong;
//! - [`store`]: the last N traces / M bytes, the oldest dropped and counted;
//! - [`http`], [`grpc`]: the two listeners; a bad payload is a 400 (`INVALID_ARGUMENT`) and a
//!   counter, never a crash; bodies are bounded;
//! - [`hop`]: which hop of the mesh a span is (ingress gateway, a sidecar, a service, the
//!   mesh route), from its service name and the tag `up` gives each Envoy listener;
//! - [`query`]: summaries, filters, the waterfall of one trace: what `GET /api/traces` answers
//!   (live and in a replay).

pub(crate) mod decode;
mod grpc;
pub(crate) mod hop;
mod http;
pub(crate) mod model;
pub(crate) mod query;
pub(crate) mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use decode::{DecodeError, Encoding};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use store::{Limits, Store};

/// The standard OTLP ports.
pub(crate) const DEFAULT_HTTP_PORT: u16 = 4318;
pub(crate) const DEFAULT_GRPC_PORT: u16 = 4317;
/// The largest request body read (after decompression), by default.
pub(crate) const DEFAULT_MAX_BODY: usize = 4 << 20;

/// A receiver that cannot listen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TracesError {
    #[error("the OTLP receiver cannot listen on 127.0.0.1:{port} ({what}): {source}")]
    Bind {
        what: &'static str,
        port: u16,
        #[source]
        source: std::io::Error,
    },
}

/// What `up` is told about its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Config {
    /// 0: any free port.
    pub(crate) http_port: u16,
    pub(crate) grpc_port: u16,
    pub(crate) limits: Limits,
    pub(crate) max_body: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_port: DEFAULT_HTTP_PORT,
            grpc_port: DEFAULT_GRPC_PORT,
            limits: Limits::default(),
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Decodes what the listeners read into the store.
pub(crate) struct Receiver {
    pub(crate) store: Arc<Store>,
    max_body: usize,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Receiver {
    pub(crate) fn new(store: Arc<Store>, max_body: usize) -> Self {
        Receiver { store, max_body }
    }

    fn rejected(&self) {
        let c = &self.store.counters.payloads_rejected;
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn too_large(&self) {
        let c = &self.store.counters.payloads_too_large;
        c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Decode and keep an `ExportTraceServiceRequest`: OTLP's answer (its partial success
    /// counting the spans refused, and why), or why the payload is not one (counted).
    pub(crate) fn traces(
        &self,
        body: &[u8],
        encoding: Encoding,
    ) -> Result<ExportTraceServiceResponse, DecodeError> {
        let request = decode::trace_request(body, encoding).inspect_err(|_| self.rejected())?;
        let d = decode::spans(request);
        let c = &self.store.counters.spans_rejected;
        c.fetch_add(d.rejected, std::sync::atomic::Ordering::Relaxed);
        self.store.add_spans(d.items, now_ms());
        Ok(ExportTraceServiceResponse {
            partial_success: (d.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(d.rejected).unwrap_or(i64::MAX),
                error_message: d.why.unwrap_or_default(),
            }),
        })
    }

    /// Decode and keep an `ExportLogsServiceRequest` (Envoy's access-log lines): OTLP's answer.
    pub(crate) fn logs(
        &self,
        body: &[u8],
        encoding: Encoding,
    ) -> Result<ExportLogsServiceResponse, DecodeError> {
        let request = decode::logs_request(body, encoding).inspect_err(|_| self.rejected())?;
        let d = decode::log_lines(request);
        let c = &self.store.counters.logs_rejected;
        c.fetch_add(d.rejected, std::sync::atomic::Ordering::Relaxed);
        self.store.add_logs(d.items, now_ms());
        Ok(ExportLogsServiceResponse {
            partial_success: (d.rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: i64::try_from(d.rejected).unwrap_or(i64::MAX),
                error_message: d.why.unwrap_or_default(),
            }),
        })
    }
}

/// The receiver listening: its ports and store; stops when dropped.
pub(crate) struct Running {
    pub(crate) http_port: u16,
    pub(crate) grpc_port: u16,
    pub(crate) store: Arc<Store>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn bind(what: &'static str, port: u16) -> Result<tokio::net::TcpListener, TracesError> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| TracesError::Bind { what, port, source })
}

fn port_of(l: &tokio::net::TcpListener, asked: u16) -> u16 {
    l.local_addr().map_or(asked, |a: SocketAddr| a.port())
}

/// Listen on both ports (both or neither) and serve.
pub(crate) async fn start(config: Config) -> Result<Running, TracesError> {
    let http_listener = bind("OTLP/HTTP", config.http_port).await?;
    let grpc_listener = bind("OTLP/gRPC", config.grpc_port).await?;
    let (http_port, grpc_port) = (
        port_of(&http_listener, config.http_port),
        port_of(&grpc_listener, config.grpc_port),
    );
    let store = Arc::new(Store::new(config.limits));
    let receiver = Arc::new(Receiver::new(store.clone(), config.max_body));
    let app = http::router(receiver.clone());
    let mut tasks = vec![tokio::spawn(async move {
        if let Err(e) = axum::serve(http_listener, app).await {
            eprintln!("kyc-mesh: the OTLP/HTTP receiver stopped: {e}");
        }
    })];
    let service = grpc::Otlp(receiver);
    tasks.push(tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
        if let Err(e) = tonic::transport::Server::builder()
            .serve_with_incoming(service, incoming)
            .await
        {
            eprintln!("kyc-mesh: the OTLP/gRPC receiver stopped: {e}");
        }
    }));
    Ok(Running {
        http_port,
        grpc_port,
        store,
        tasks,
    })
}

#[cfg(test)]
#[path = "receiver_tests.rs"]
mod tests;
