//! The OTLP span exporter for `OTEL_EXPORTER_OTLP_PROTOCOL`, wrapped so that failures cost one
//! warning: `http/protobuf` (the default) through [`super::http_export`], which encodes spans
//! without the intermediate protobuf structures; `grpc` through `opentelemetry-otlp`'s tonic exporter
//! (endpoint and timeout read by it from the standard variables).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::http_export::{self, HttpExporter};

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
    inner: Inner,
    warned: AtomicBool,
}

enum Inner {
    Http(HttpExporter),
    Grpc(opentelemetry_otlp::SpanExporter),
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
        Wire::HttpProtobuf => {
            let config = http_export::Config::from_env(|k| std::env::var(k).ok())?;
            Inner::Http(HttpExporter::new(config)?)
        }
        Wire::Grpc => Inner::Grpc(
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok(Exporter {
        inner,
        warned: AtomicBool::new(false),
    })
}

impl SpanExporter for Exporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = match &self.inner {
            Inner::Http(http) => http.export(&batch),
            Inner::Grpc(grpc) => grpc.export(batch).await,
        };
        if let Err(e) = &result {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "cannot export spans to the OTLP collector; requests are not affected (further failures are not logged)");
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        match &self.inner {
            Inner::Http(_) => Ok(()),
            Inner::Grpc(grpc) => grpc.shutdown_with_timeout(timeout),
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        match &mut self.inner {
            Inner::Http(http) => http.set_resource(resource),
            Inner::Grpc(grpc) => grpc.set_resource(resource),
        }
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
