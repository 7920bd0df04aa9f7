//! A scorer version, and the state a scorer service runs with.

use std::sync::Arc;

use axum::extract::FromRef;
use kyc_common::configuration::CommonSettings;
use kyc_common::domain::{today_utc, Applicant, Clock, CreditCheckReport, ServedBy};
use kyc_common::error::CREDIT_CHECK_ERRORS;
use kyc_common::http::ServiceContext;
use time::Date;

/// A scorer version: the only thing that differs between the basic and the advanced service.
pub trait Scorer: Send + Sync + 'static {
    fn score(&self, applicant: &Applicant, today: Date, served_by: &ServedBy) -> CreditCheckReport;
}

#[derive(Clone, FromRef)]
pub struct ScorerState {
    pub ctx: Arc<ServiceContext>,
    pub scorer: Arc<dyn Scorer>,
    pub clock: Clock,
}

impl ScorerState {
    /// A scorer service's state: errors in the `KYC-CRD-CHK` namespace, dates from the UTC clock.
    pub fn new(
        service: &str,
        build_version: &'static str,
        settings: &CommonSettings,
        scorer: impl Scorer,
    ) -> Self {
        let ctx = ServiceContext::new(service, build_version, CREDIT_CHECK_ERRORS, settings);
        crate::metrics::describe(&ctx.metrics);
        ScorerState {
            ctx,
            scorer: Arc::new(scorer),
            clock: today_utc,
        }
    }
}
