//! The KYC domain both scorers and the aggregator share.

pub mod applicant;
pub mod basic_rules;
pub mod demo;
pub mod names;
pub mod report;
pub mod watchlist;

pub use applicant::{Applicant, ApplicantRequest, ValidationError};
pub use report::{CreditCheckReport, Reason, ReportType, ServedBy};

/// Today's date in UTC: the clock the rules use, injectable for tests.
pub type Clock = fn() -> time::Date;

pub fn today_utc() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
