//! What every handler and middleware of a service needs to know about the service itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::metrics::Metrics;
use super::shed::Shed;
use crate::configuration::{CommonSettings, Share};
use crate::domain::ServedBy;
use crate::error::ErrorNamespace;

/// The podinfo-style fault knobs, applied to business routes only (never to probes, docs, `/version`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Chaos {
    pub error_rate: Share,
    pub delay: Duration,
}

/// The chaos knobs in force, changeable at run time (`PUT /admin/chaos`, only with `KYC_CHAOS_API=true`).
/// Two atomics: read on every business request without a lock; a reader may see the new error rate
/// with the old delay for one request, which is harmless for fault injection.
#[derive(Debug, Default)]
pub struct ChaosKnobs {
    error_rate_bits: AtomicU64,
    delay_ms: AtomicU64,
}

impl ChaosKnobs {
    pub fn new(chaos: Chaos) -> Self {
        let knobs = ChaosKnobs::default();
        knobs.set(chaos);
        knobs
    }

    pub fn get(&self) -> Chaos {
        let rate = f64::from_bits(self.error_rate_bits.load(Ordering::Relaxed));
        Chaos {
            error_rate: Share::new(rate).unwrap_or_default(),
            delay: Duration::from_millis(self.delay_ms.load(Ordering::Relaxed)),
        }
    }

    /// Replaces the setting at once (the next request sees it).
    pub fn set(&self, chaos: Chaos) {
        self.error_rate_bits
            .store(chaos.error_rate.get().to_bits(), Ordering::Relaxed);
        let ms = u64::try_from(chaos.delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }
}

/// Identity, error namespace, chaos knobs and the drain flag of a running service.
#[derive(Debug)]
pub struct ServiceContext {
    pub identity: ServedBy,
    /// `identity` as `service/version/instance`, built once: it goes on every response and log line.
    pub served_by: String,
    pub build_version: &'static str,
    /// The codes and `type` of this service's error bodies.
    pub errors: ErrorNamespace,
    pub chaos: ChaosKnobs,
    /// Whether `/admin/chaos` is mounted (`KYC_CHAOS_API=true`).
    pub chaos_api: bool,
    /// Business requests in flight, at most `KYC_MAX_CONCURRENT_REQUESTS`.
    pub shed: Shed,
    /// The service's Prometheus metrics (`/metrics`).
    pub metrics: Metrics,
    draining: AtomicBool,
}

impl ServiceContext {
    pub fn new(
        service: &str,
        build_version: &'static str,
        errors: ErrorNamespace,
        settings: &CommonSettings,
    ) -> Arc<Self> {
        let instance = match &settings.instance {
            Some(instance) => instance.to_string(),
            None => hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "unknown".to_owned()),
        };
        let identity = ServedBy {
            service: service.to_owned(),
            version: settings.service_version.to_string(),
            instance,
        };
        let metrics = Metrics::new(&identity, build_version, settings.metrics);
        Arc::new(ServiceContext {
            metrics,
            served_by: identity.header_value(),
            identity,
            build_version,
            errors,
            chaos: ChaosKnobs::new(Chaos {
                error_rate: settings.chaos_error_rate,
                delay: settings.chaos_delay,
            }),
            chaos_api: settings.chaos_api,
            shed: Shed::new(settings.limits.max_concurrent_requests),
            draining: AtomicBool::new(false),
        })
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }
}
