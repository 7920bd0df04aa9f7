//! The aggregator's domain metrics: its calls to the credit-check service through the gateway.
//!
//! * `kyc_gateway_calls_total{requested_type, result}`;
//! * `kyc_gateway_call_duration_seconds{requested_type, result}` (histogram).
//!
//! `requested_type` is the `type` asked for (`basicReport`, `advancedReport`, `report`); `result` is `ok`,
//! `4xx` (a scorer's refusal, passed through), `502`, `504`, or `503` when every permitted call was in
//! flight and the call was not made (`KYC_OUTBOUND_MAX_CONCURRENCY`; see [`super::gateway_error`]).

use std::time::Duration;

use kyc_common::http::metrics::Metrics;

use super::{GatewayError, RequestedReport};

pub const CALLS: &str = "kyc_gateway_calls_total";
pub const CALL_DURATION: &str = "kyc_gateway_call_duration_seconds";

/// HELP lines for both.
pub fn describe(metrics: &Metrics) {
    metrics.describe_counter(
        CALLS,
        "Calls to the credit-check gateway, by requested type and result",
    );
    metrics.describe_histogram(
        CALL_DURATION,
        "Duration of calls to the credit-check gateway, by requested type and result",
    );
}

/// The `type` value a report was requested with.
pub fn requested_type(report: RequestedReport) -> &'static str {
    match report {
        RequestedReport::Basic => "basicReport",
        RequestedReport::Advanced => "advancedReport",
        RequestedReport::Canary => "report",
    }
}

/// `ok`, `4xx` (passed through), `502`, `504` or `503` (not sent: the outbound limit was reached).
pub fn result_label<T>(result: &Result<T, GatewayError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(GatewayError::Refused { .. }) => "4xx",
        Err(GatewayError::Timeout { .. }) => "504",
        Err(GatewayError::Exhausted { .. }) => "503",
        Err(_) => "502",
    }
}

/// Counts one call and observes its duration.
pub fn record_call<T>(
    metrics: &Metrics,
    report: RequestedReport,
    result: &Result<T, GatewayError>,
    took: Duration,
) {
    let requested = requested_type(report);
    let result = result_label(result);
    let labels = [("requested_type", requested), ("result", result)];
    metrics.increment(CALLS, &labels, None);
    metrics.observe(CALL_DURATION, &labels, took.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_never_sent_for_want_of_a_permit_is_labelled_503_not_502() {
        let exhausted: Result<(), GatewayError> = Err(GatewayError::Exhausted { limit: 1 });
        assert_eq!(result_label(&exhausted), "503");
        assert_eq!(result_label(&Ok::<(), GatewayError>(())), "ok");
    }
}
