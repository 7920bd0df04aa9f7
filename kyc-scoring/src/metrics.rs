//! The scorers' domain metrics, recorded into the service's own recorder (`/metrics`):
//!
//! * `kyc_reports_total{report_type, outcome}`: reports answered, `BASIC`/`ADVANCED`, `pass`/`fail`;
//! * `kyc_report_reasons_total{report_type, code}`: the reasons given, by their stable code.
//!
//! Labels come from fixed sets (report type, outcome, the rules' reason codes), never from the applicant.

use kyc_common::domain::{CreditCheckReport, ReportType};
use kyc_common::http::metrics::Metrics;

pub const REPORTS: &str = "kyc_reports_total";
pub const REASONS: &str = "kyc_report_reasons_total";

/// HELP lines for the two counters.
pub fn describe(metrics: &Metrics) {
    metrics.describe_counter(
        REPORTS,
        "Credit-check reports answered, by type and outcome",
    );
    metrics.describe_counter(REASONS, "Reasons given in reports, by stable code");
}

/// Counts one answered report and its reasons.
pub fn record_report(metrics: &Metrics, report: &CreditCheckReport) {
    let report_type = match report.report_type {
        ReportType::Basic => "BASIC",
        ReportType::Advanced => "ADVANCED",
    };
    let outcome = if report.background_check_pass {
        "pass"
    } else {
        "fail"
    };
    metrics.increment(
        REPORTS,
        &[("report_type", report_type), ("outcome", outcome)],
        None,
    );
    for reason in &report.reasons {
        metrics.increment(
            REASONS,
            &[("report_type", report_type)],
            Some(("code", &reason.code)),
        );
    }
}
