//! The limits that keep a service alive in front of hostile or overwhelming clients: how many
//! connections it holds, how long a client may take to send its request head, how large that head may
//! be, and how many requests it works on at once (the rest get a fast 503).
//!
//! Defaults fit the Kubernetes resources of `networking/*-k8-istio.yml` (128 MiB memory limit, 500m
//! CPU): 1,024 connections and 256 requests in flight stay far below the memory limit (measured:
//! `bench/hostile.py`), while a sidecar's pooled connections never come near them.

use std::time::Duration;

use super::{ConfigurationError, Layers, Millis};

/// `KYC_MAX_CONNECTIONS`, `KYC_MAX_CONCURRENT_REQUESTS`, `KYC_HEADER_READ_TIMEOUT_MS`,
/// `KYC_MAX_HEADER_BYTES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// `KYC_MAX_CONNECTIONS`: connections kept alive at once; past it a few more are served one request
    /// each (see `crate::connections`), then further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// `KYC_MAX_CONCURRENT_REQUESTS`: business requests worked on at once; more are answered 503 at
    /// once (probes, docs and `/version` are not counted and keep answering).
    pub max_concurrent_requests: usize,
    /// `KYC_HEADER_READ_TIMEOUT_MS`: time allowed to send a whole request head, counted from the end of
    /// the previous answer on a kept-alive connection (so it is also the keep-alive idle timeout).
    pub header_read_timeout: Duration,
    /// `KYC_MAX_HEADER_BYTES`: request line plus headers; larger heads are answered 431.
    pub max_header_bytes: usize,
}

pub const DEFAULT_MAX_CONNECTIONS: &str = "1024";
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: &str = "256";
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: &str = "10000";
pub const DEFAULT_MAX_HEADER_BYTES: &str = "16384";

/// Reads `key` as a whole number within `range`.
fn bounded(
    layers: &Layers,
    key: &'static str,
    default: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigurationError> {
    let value: usize = layers.get_or(key, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigurationError::new(
            key,
            format!(
                "{value}: must be between {} and {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

impl ServerLimits {
    pub fn read(layers: &Layers) -> Result<Self, ConfigurationError> {
        let Millis(header_read_timeout) =
            layers.get_or("header_read_timeout_ms", DEFAULT_HEADER_READ_TIMEOUT_MS)?;
        if header_read_timeout.is_zero() {
            return Err(ConfigurationError::new(
                "header_read_timeout_ms",
                "must be greater than 0",
            ));
        }
        Ok(ServerLimits {
            max_connections: bounded(
                layers,
                "max_connections",
                DEFAULT_MAX_CONNECTIONS,
                1..=65_536,
            )?,
            max_concurrent_requests: bounded(
                layers,
                "max_concurrent_requests",
                DEFAULT_MAX_CONCURRENT_REQUESTS,
                1..=65_536,
            )?,
            header_read_timeout,
            max_header_bytes: bounded(
                layers,
                "max_header_bytes",
                DEFAULT_MAX_HEADER_BYTES,
                1024..=1024 * 1024,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::EnvSource;
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<ServerLimits, ConfigurationError> {
        let map = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServerLimits::read(&Layers::read(EnvSource::Map(map))?)
    }

    #[test]
    fn defaults_and_overrides() {
        let d = read(&[]).expect("defaults are valid");
        assert_eq!(d.max_connections, 1024);
        assert_eq!(d.max_concurrent_requests, 256);
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert_eq!(d.max_header_bytes, 16384);
        let s = read(&[
            ("KYC_MAX_CONNECTIONS", "10"),
            ("KYC_MAX_CONCURRENT_REQUESTS", "2"),
            ("KYC_HEADER_READ_TIMEOUT_MS", "250"),
            ("KYC_MAX_HEADER_BYTES", "4096"),
        ])
        .expect("valid");
        assert_eq!(
            (
                s.max_connections,
                s.max_concurrent_requests,
                s.max_header_bytes
            ),
            (10, 2, 4096)
        );
        assert_eq!(s.header_read_timeout, Duration::from_millis(250));
    }

    #[test]
    fn a_bad_limit_names_its_variable() {
        for (var, value) in [
            ("KYC_MAX_CONNECTIONS", "0"),
            ("KYC_MAX_CONNECTIONS", "many"),
            ("KYC_MAX_CONNECTIONS", "100000"),
            ("KYC_MAX_CONCURRENT_REQUESTS", "0"),
            ("KYC_MAX_CONCURRENT_REQUESTS", "-1"),
            ("KYC_HEADER_READ_TIMEOUT_MS", "0"),
            ("KYC_HEADER_READ_TIMEOUT_MS", "1.5"),
            ("KYC_MAX_HEADER_BYTES", "100"),
            ("KYC_MAX_HEADER_BYTES", "10000000"),
        ] {
            let err = read(&[(var, value)]).expect_err(var);
            assert_eq!(err.key, var, "{value}: {err}");
        }
    }
}
