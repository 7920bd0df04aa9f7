//! The OTLP span exporter for `OTEL_EXPORTER_OTLP_PROTOCOL` (endpoints and timeout are read by
//! `opentelemetry-otlp` from the standard variables), wrapped so that failures cost one warning.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// `grpc` or `http/protobuf` (the default); `http/json` is not built in and falls back to protobuf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    HttpProtobuf,
    Grpc,
}

impl Wire {
    pub fn parse(value: Option<&str>) -> Wire {
        match value.map(str::trim) {
            Some("grpc") => Wire::Grpc,
            _ => Wire::HttpProtobuf,
        }
    }
}

/// The exporter, and whether it has already warned.
pub struct Exporter {
    inner: opentelemetry_otlp::SpanExporter,
    warned: AtomicBool,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

/// The exporter for the configured protocol.
pub fn build() -> Result<Exporter, String> {
    let wire = Wire::parse(std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok().as_deref());
    let inner = match wire {
        Wire::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build(),
        Wire::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build(),
    }
    .map_err(|e| e.to_string())?;
    Ok(Exporter {
        inner,
        warned: AtomicBool::new(false),
    })
}

impl SpanExporter for Exporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        if let Err(e) = &result {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "cannot export spans to the OTLP collector; requests are not affected (further failures are not logged)");
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_defaults_to_http_protobuf() {
        assert_eq!(Wire::parse(None), Wire::HttpProtobuf);
        assert_eq!(Wire::parse(Some("http/protobuf")), Wire::HttpProtobuf);
        assert_eq!(Wire::parse(Some("grpc")), Wire::Grpc);
    }
}
