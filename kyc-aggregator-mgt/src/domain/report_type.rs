//! The `type` query parameter of the original: `basicReport`, `advancedReport`, or anything else meaning
//! "let the mesh choose" (`report`). Unknown values are refused instead of silently routed.

use kyc_common::error::{ApiError, ErrorKind};
use utoipa::ToSchema;

/// Which credit-check route to call; documented as the values `type` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
pub enum RequestedReport {
    /// `basicReport` → `/credit-check/basic`, always the basic scorer.
    #[schema(rename = "basicReport")]
    Basic,
    /// `advancedReport` → `/credit-check/advanced`, always the advanced scorer.
    #[schema(rename = "advancedReport")]
    Advanced,
    /// `report` or no type → `/credit-check/report`, split by the mesh.
    #[schema(rename = "report")]
    Canary,
}

pub const ACCEPTED_TYPES: &str = "basicReport, advancedReport or report";

/// `type` names no report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("type: unknown report type; use {ACCEPTED_TYPES}")]
pub struct UnknownReportType;

impl From<UnknownReportType> for ApiError {
    fn from(e: UnknownReportType) -> Self {
        ApiError::new(ErrorKind::BadRequest, e.to_string())
    }
}

impl RequestedReport {
    pub fn parse(value: Option<&str>) -> Result<Self, UnknownReportType> {
        match value.map(str::trim) {
            None | Some("report") => Ok(RequestedReport::Canary),
            Some("basicReport") => Ok(RequestedReport::Basic),
            Some("advancedReport") => Ok(RequestedReport::Advanced),
            Some(_) => Err(UnknownReportType),
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            RequestedReport::Basic => "/credit-check/basic",
            RequestedReport::Advanced => "/credit-check/advanced",
            RequestedReport::Canary => "/credit-check/report",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_the_originals_routes() {
        assert_eq!(
            RequestedReport::parse(Some("basicReport"))
                .ok()
                .map(|r| r.path()),
            Some("/credit-check/basic")
        );
        assert_eq!(
            RequestedReport::parse(Some("advancedReport"))
                .ok()
                .map(|r| r.path()),
            Some("/credit-check/advanced")
        );
        assert_eq!(
            RequestedReport::parse(Some("report"))
                .ok()
                .map(|r| r.path()),
            Some("/credit-check/report")
        );
        assert_eq!(RequestedReport::parse(None), Ok(RequestedReport::Canary));
    }

    #[test]
    fn unknown_types_are_refused() {
        for bad in ["BASICREPORT", "basic", "unspecified", "x", ""] {
            assert_eq!(RequestedReport::parse(Some(bad)).ok(), None, "{bad}");
        }
    }
}
