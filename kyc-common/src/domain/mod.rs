//! The KYC domain both scorers and the aggregator share: the applicant and its validation, the demo
//! applicants, the report.

pub mod applicant;
pub mod demo;
pub mod report;

pub use applicant::{Applicant, ApplicantRequest, ValidationError};
pub use demo::{DemoName, DemoQuery, UnknownDemo};
pub use report::{CreditCheckReport, Reason, ReportType, ServedBy};

/// Today's date in UTC: the clock the rules use, injectable for tests.
pub type Clock = fn() -> time::Date;

pub fn today_utc() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
