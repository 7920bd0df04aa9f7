//! The credit-check report: the original's flags, plus why they were raised and who answered.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReportType {
    Basic,
    Advanced,
}

/// Who answered: the canary split is visible by counting these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"service": "kyc-credit-check-basic", "version": "v1", "instance": "kyc-credit-check-basic-7d9c-x2k4p"}))]
pub struct ServedBy {
    /// Service (binary and Kubernetes Service) name.
    pub service: String,
    /// The deployment version: the `version` label the mesh routes on (`v1`, `v2`).
    pub version: String,
    /// The instance: the pod's host name.
    pub instance: String,
}

impl ServedBy {
    /// `service/version/instance`, the value of the `x-kyc-served-by` header.
    pub fn header_value(&self) -> String {
        format!("{}/{}/{}", self.service, self.version, self.instance)
    }
}

/// Why a flag was raised, or a check failed. Codes are stable; messages are for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "PASSPORT_EXPIRED", "flag": "backgroundCheckPass", "message": "the passport expired before today"}))]
pub struct Reason {
    /// Stable code, e.g. `WATCHLIST_NAME`, `PASSPORT_EXPIRED`, `CREDIT_UTILISATION_HIGH` (see docs/services.md).
    pub code: String,
    /// The report field this reason raised (or failed).
    pub flag: String,
    /// One sentence for people. Never contains the applicant's data.
    pub message: String,
}

impl Reason {
    pub fn new(code: &str, flag: &str, message: &str) -> Self {
        Reason {
            code: code.to_owned(),
            flag: flag.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// A credit-check report. The basic scorer fills the original's basic fields only; the advanced scorer
/// fills every flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "ADVANCED",
    "blackListed": false,
    "restrictedNational": false,
    "suspiciousActivity": false,
    "interpolConductBad": false,
    "militaryTrained": false,
    "employmentBad": false,
    "creditUsageBad": true,
    "backgroundCheckPass": false,
    "reasons": [{"code": "CREDIT_UTILISATION_HIGH", "flag": "creditUsageBad", "message": "the bureau reports credit utilisation above 90%"}],
    "servedBy": {"service": "kyc-credit-check-advanced", "version": "v2", "instance": "kyc-credit-check-advanced-5f6d-9qz7w"}
}))]
pub struct CreditCheckReport {
    /// `BASIC` or `ADVANCED`: which scorer answered.
    #[serde(rename = "type")]
    pub report_type: ReportType,
    /// Name or passport number on the watchlist.
    pub black_listed: bool,
    /// Advanced only: citizenship or residence country on the restricted list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restricted_national: Option<bool>,
    /// Advanced only: a documented heuristic fired (see docs/services.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicious_activity: Option<bool>,
    /// Advanced only: name and birth date on the notices list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpol_conduct_bad: Option<bool>,
    /// Advanced only: the bureau records military service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub military_trained: Option<bool>,
    /// Advanced only: the bureau records long unemployment or dismissal for misconduct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employment_bad: Option<bool>,
    /// Advanced only: the bureau records high credit utilisation or missed payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_usage_bad: Option<bool>,
    /// True when no flag is raised, the passport is valid today and the applicant is at least 18.
    pub background_check_pass: bool,
    /// One entry per raised flag or failed check, in rule order. Empty when the check passes.
    pub reasons: Vec<Reason>,
    /// The scorer instance that produced this report.
    pub served_by: ServedBy,
}
