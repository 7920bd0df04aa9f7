//! The node proxy's Prometheus counters, with ztunnel's names and labels: connections opened
//! and closed, bytes received (client → server) and sent (server → client), each reported by
//! the source's node proxy (`reporter="source"`) and the destination's
//! (`reporter="destination"`); and the connections L4 policy denied.

use std::pin::Pin;
use std::task::{Context, Poll};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reporter {
    Source,
    Destination,
}

impl Reporter {
    fn as_str(self) -> &'static str {
        match self {
            Reporter::Source => "source",
            Reporter::Destination => "destination",
        }
    }
}

/// The labels of one connection (ztunnel's subset that means something locally).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ConnLabels {
    pub reporter: String,
    pub source_workload: String,
    pub source_principal: String,
    pub destination_workload: String,
    pub destination_principal: String,
    pub destination_service: String,
    pub connection_security_policy: String,
}

impl ConnLabels {
    pub fn new(reporter: Reporter) -> ConnLabels {
        ConnLabels {
            reporter: reporter.as_str().into(),
            source_workload: "unknown".into(),
            source_principal: "unknown".into(),
            destination_workload: "unknown".into(),
            destination_principal: "unknown".into(),
            destination_service: "unknown".into(),
            connection_security_policy: "mutual_tls".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DeniedLabels {
    pub destination_workload: String,
    pub source_principal: String,
    /// The DENY policy (`<namespace>/<name>`), or `no-allow-match`.
    pub policy: String,
}

/// The outcome of a configuration reload (SIGHUP).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `applied`, or `rejected` (the last good configuration stays).
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    reloads: Family<ReloadLabels, Counter>,
    opened: Family<ConnLabels, Counter>,
    closed: Family<ConnLabels, Counter>,
    received: Family<ConnLabels, Counter>,
    sent: Family<ConnLabels, Counter>,
    denied: Family<DeniedLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let (opened, closed, received, sent, denied) = Default::default();
        registry.register(
            "istio_tcp_connections_opened",
            "TCP connections opened",
            Family::clone(&opened),
        );
        registry.register(
            "istio_tcp_connections_closed",
            "TCP connections closed",
            Family::clone(&closed),
        );
        registry.register(
            "istio_tcp_received_bytes",
            "Bytes from the client to the server",
            Family::clone(&received),
        );
        registry.register(
            "istio_tcp_sent_bytes",
            "Bytes from the server to the client",
            Family::clone(&sent),
        );
        registry.register(
            "kyc_node_proxy_connections_denied",
            "Connections refused by L4 AuthorizationPolicy",
            Family::clone(&denied),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "kyc_node_proxy_config_reloads",
            "Configuration reloads (SIGHUP), applied or rejected",
            Family::clone(&reloads),
        );
        // Both outcomes exist from the start (a reader compares them before and after).
        for outcome in ["applied", "rejected"] {
            let _ = reloads.get_or_create(&ReloadLabels {
                outcome: outcome.into(),
            });
        }
        Metrics {
            registry,
            reloads,
            opened,
            closed,
            received,
            sent,
            denied,
        }
    }

    /// A connection starts: counted as opened now, closed when the guard drops.
    pub fn open(&self, labels: ConnLabels) -> OpenConnection {
        self.opened.get_or_create(&labels).inc();
        OpenConnection {
            closed: self.closed.get_or_create(&labels).clone(),
            received: self.received.get_or_create(&labels).clone(),
            sent: self.sent.get_or_create(&labels).clone(),
        }
    }

    /// A reload was applied (`true`) or rejected.
    pub fn reloaded(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "rejected" };
        self.reloads
            .get_or_create(&ReloadLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn denied(&self, labels: DeniedLabels) {
        self.denied.get_or_create(&labels).inc();
    }

    /// OpenMetrics text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// One open connection's counters.
pub struct OpenConnection {
    closed: Counter,
    pub received: Counter,
    pub sent: Counter,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.closed.inc();
    }
}

/// A stream whose reads add to a counter as they happen (a long connection is visible
/// before it closes).
pub struct Counted<S> {
    inner: S,
    reads: Counter,
}

impl<S> Counted<S> {
    pub fn new(inner: S, reads: Counter) -> Counted<S> {
        Counted { inner, reads }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.reads.inc_by(n as u64);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
