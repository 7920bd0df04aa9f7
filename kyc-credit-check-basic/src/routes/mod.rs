//! `/credit-check/basic` and `/credit-check/report`: GET scores a demo applicant, POST the posted one.

use kyc_scoring::routes::{self, ScoringRoutes};

pub fn router() -> ScoringRoutes {
    routes::router("/credit-check/basic", "BASIC report")
}
