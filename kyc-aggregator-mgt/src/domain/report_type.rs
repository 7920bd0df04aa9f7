//! The `type` query parameter of the original: `basicReport`, `advancedReport`, or anything else meaning
//! "let the mesh choose" (`report`). Unknown values are refused instead of silently routed.

/// Which credit-check route to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestedReport {
    /// `basicReport` → `/credit-check/basic`, always the basic scorer.
    Basic,
    /// `advancedReport` → `/credit-check/advanced`, always the advanced scorer.
    Advanced,
    /// `report` or no type → `/credit-check/report`, split by the mesh.
    Canary,
}

pub const ACCEPTED_TYPES: &str = "basicReport, advancedReport or report";

impl RequestedReport {
    /// `None` for an unknown type.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value.map(str::trim) {
            None | Some("report") => Some(RequestedReport::Canary),
            Some("basicReport") => Some(RequestedReport::Basic),
            Some("advancedReport") => Some(RequestedReport::Advanced),
            Some(_) => None,
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
            RequestedReport::parse(Some("basicReport")).map(|r| r.path()),
            Some("/credit-check/basic")
        );
        assert_eq!(
            RequestedReport::parse(Some("advancedReport")).map(|r| r.path()),
            Some("/credit-check/advanced")
        );
        assert_eq!(
            RequestedReport::parse(Some("report")).map(|r| r.path()),
            Some("/credit-check/report")
        );
        assert_eq!(RequestedReport::parse(None), Some(RequestedReport::Canary));
    }

    #[test]
    fn unknown_types_are_refused() {
        for bad in ["BASICREPORT", "basic", "unspecified", "x", ""] {
            assert_eq!(RequestedReport::parse(Some(bad)), None, "{bad}");
        }
    }
}
