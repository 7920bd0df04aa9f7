//! The audit trail: one log line per KYC report request (who asked, which report, what came of
//! it, which scorer answered) and `kyc_reports_total{outcome, identity}` in /metrics.
//!
//! Who asked is the subject the proxy verified: with `networking/scenarios/jwt-auth.yaml` the
//! aggregator's sidecar checks the caller's JWT and forwards its `sub` as `x-kyc-subject`
//! (`outputClaimToHeaders`), never the token. Without that scenario nothing verifies anyone and
//! the line says `anonymous` (a client-sent `x-kyc-subject` is reported as `unverified:…`
//! only when it is well formed, so an audit reader can tell). The line never holds the
//! applicant (no body is read here), the token, or the query beyond the report type; the
//! metric has no subject label (bounded: outcome × identity).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use kyc_common::http::{ServiceContext, SCORED_BY_HEADER};
use kyc_common::propagation::request_id;

use crate::domain::{gateway_metrics, RequestedReport};

/// The verified subject, as the proxy forwards it (RequestAuthentication's
/// `outputClaimToHeaders: [{header: x-kyc-subject, claim: sub}]`).
pub const SUBJECT_HEADER: &str = "x-kyc-subject";
/// Set by the proxy with the subject when it verified a token (`outputClaimToHeaders` of `iss`):
/// a subject without it was not verified by the mesh.
pub const ISSUER_HEADER: &str = "x-kyc-issuer";
pub const REPORTS: &str = "kyc_reports_total";
/// The longest subject written as is; a longer one is cut (and marked).
const MAX_SUBJECT: usize = 128;

/// HELP line for the counter.
pub fn describe(ctx: &ServiceContext) {
    ctx.metrics.describe_counter(
        REPORTS,
        "KYC report requests by outcome (served, rejected, failed) and identity (verified, anonymous, unverified)",
    );
}

/// Who asked, as far as the service can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A token's `sub` the mesh verified (its issuer came with it).
    Verified { subject: String, issuer: String },
    /// No identity at all.
    Anonymous,
    /// An `x-kyc-subject` nobody vouches for (no issuer beside it, or several values).
    Unverified,
}

/// One header value as text fit for a log line: visible characters only, at most
/// [`MAX_SUBJECT`]; `None` when absent, repeated or not text.
fn single(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = first.to_str().ok()?.trim();
    if text.is_empty() || text.chars().any(char::is_control) {
        return None;
    }
    Some(match text.char_indices().nth(MAX_SUBJECT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    })
}

impl Subject {
    pub fn of(headers: &HeaderMap) -> Self {
        let present = headers.contains_key(SUBJECT_HEADER) || headers.contains_key(ISSUER_HEADER);
        match (
            single(headers, SUBJECT_HEADER),
            single(headers, ISSUER_HEADER),
        ) {
            (Some(subject), Some(issuer)) => Subject::Verified { subject, issuer },
            _ if present => Subject::Unverified,
            _ => Subject::Anonymous,
        }
    }

    /// The `identity` label.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Verified { .. } => "verified",
            Subject::Anonymous => "anonymous",
            Subject::Unverified => "unverified",
        }
    }
}

/// What came of a request, by its status: `served` (2xx), `rejected` (4xx: the request, or a
/// scorer's refusal), `failed` (5xx).
pub fn outcome(status: u16) -> &'static str {
    match status {
        200..=299 => "served",
        400..=499 => "rejected",
        _ => "failed",
    }
}

/// The report asked for (`type`), as its canonical name; `invalid` for anything else (the raw
/// value is not logged).
fn report_type(query: Option<&str>) -> &'static str {
    let value = query.and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == "type")
            .map(|(_, v)| v)
    });
    match RequestedReport::parse(value) {
        Ok(r) => gateway_metrics::requested_type(r),
        Err(_) => "invalid",
    }
}

/// The middleware around the KYC API's routes: one audit line and one count per request.
pub async fn audit(State(ctx): State<Arc<ServiceContext>>, req: Request, next: Next) -> Response {
    let subject = Subject::of(req.headers());
    let request_id = request_id(req.headers());
    let method = req.method().clone();
    let report = report_type(req.uri().query());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let outcome = outcome(status);
    let served_by = response
        .headers()
        .get(SCORED_BY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let identity = subject.kind();
    let (who, issuer) = match &subject {
        Subject::Verified { subject, issuer } => (subject.as_str(), issuer.as_str()),
        Subject::Anonymous => ("anonymous", "-"),
        Subject::Unverified => ("unverified", "-"),
    };
    tracing::info!(
        audit = "kyc-report",
        subject = who,
        issuer,
        identity,
        %request_id,
        %method,
        report_type = report,
        outcome,
        status,
        served_by,
        "audit"
    );
    ctx.metrics.increment(
        REPORTS,
        &[("outcome", outcome), ("identity", identity)],
        None,
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn a_subject_counts_as_verified_only_with_its_issuer_and_once() {
        let both = headers(&[
            (SUBJECT_HEADER, "alice"),
            (ISSUER_HEADER, "kyc-demo@banknext.example"),
        ]);
        assert_eq!(
            Subject::of(&both),
            Subject::Verified {
                subject: "alice".into(),
                issuer: "kyc-demo@banknext.example".into()
            }
        );
        assert_eq!(Subject::of(&HeaderMap::new()), Subject::Anonymous);
        assert_eq!(
            Subject::of(&headers(&[(SUBJECT_HEADER, "mallory")])),
            Subject::Unverified
        );
        let twice = headers(&[
            (SUBJECT_HEADER, "mallory"),
            (SUBJECT_HEADER, "alice"),
            (ISSUER_HEADER, "kyc-demo@banknext.example"),
        ]);
        assert_eq!(Subject::of(&twice), Subject::Unverified);
        let long = "x".repeat(1000);
        match Subject::of(&headers(&[(SUBJECT_HEADER, &long), (ISSUER_HEADER, "i")])) {
            Subject::Verified { subject, .. } => {
                assert_eq!(subject.chars().count(), MAX_SUBJECT + 1)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn outcomes_and_report_types_are_bounded_labels() {
        assert_eq!(outcome(200), "served");
        assert_eq!(outcome(403), "rejected");
        assert_eq!(outcome(503), "failed");
        assert_eq!(report_type(None), "report");
        assert_eq!(report_type(Some("type=basicReport")), "basicReport");
        assert_eq!(
            report_type(Some("demo=alice&type=advancedReport")),
            "advancedReport"
        );
        assert_eq!(report_type(Some("type=FR1234567")), "invalid");
    }
}
