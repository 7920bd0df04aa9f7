//! Fictional demo applicants, scored when a request comes without a body (a browser's GET).
//!
//! Their passports expire five years after today, so they stay valid whenever the demo runs.
//! * `alice`: clean; both scorers pass her.
//! * `jonas`: clean for the basic scorer, but the fictional bureau reports heavy credit use, so the
//!   advanced scorer fails him: the canary's two versions visibly disagree.
//! * `viktor`: on the watchlist; both scorers fail him.

use std::str::FromStr;

use serde::Deserialize;
use time::{Date, Duration};
use utoipa::{IntoParams, ToSchema};

use super::applicant::iso;
use super::ApplicantRequest;

/// Names a request may pass as `?demo=`.
pub const DEMO_NAMES: [&str; 3] = ["alice", "jonas", "viktor"];

/// A demo applicant's name, as `?demo=` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DemoName {
    Alice,
    Jonas,
    Viktor,
}

/// `?demo=` names no demo applicant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("demo: unknown demo applicant; use one of alice, jonas, viktor")]
pub struct UnknownDemo;

impl FromStr for DemoName {
    type Err = UnknownDemo;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "alice" => Ok(DemoName::Alice),
            "jonas" => Ok(DemoName::Jonas),
            "viktor" => Ok(DemoName::Viktor),
            _ => Err(UnknownDemo),
        }
    }
}

/// Which demo applicant a GET scores.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DemoQuery {
    /// `alice` (passes), `jonas` (advanced fails him on credit use) or `viktor` (watchlisted).
    /// Omitted: one of them at random.
    #[param(inline, value_type = Option<DemoName>, example = "alice")]
    pub demo: Option<String>,
}

impl DemoQuery {
    /// The demo applicant the query names, or a random one.
    pub fn applicant(&self, today: Date) -> Result<ApplicantRequest, UnknownDemo> {
        match self.demo.as_deref() {
            None => Ok(random(today).1),
            Some(name) => Ok(name.parse::<DemoName>()?.applicant(today)),
        }
    }
}

/// The demo applicant called `name`, if there is one.
pub fn applicant(name: &str, today: Date) -> Option<ApplicantRequest> {
    name.parse::<DemoName>()
        .ok()
        .map(|demo| demo.applicant(today))
}

impl DemoName {
    /// The applicant, with a passport valid for five more years.
    pub fn applicant(self, today: Date) -> ApplicantRequest {
        let expiry = iso(today.saturating_add(Duration::days(5 * 365)));
        let make =
            |first: &str, last: &str, born: &str, gender: &str, country: &str, passport: &str| {
                ApplicantRequest {
                    first_name: Some(first.into()),
                    last_name: Some(last.into()),
                    date_of_birth: Some(born.into()),
                    gender: Some(gender.into()),
                    marital_status: Some("single".into()),
                    citizenship: Some(country.into()),
                    current_residence_country: Some(country.into()),
                    passport_number: Some(passport.into()),
                    passport_expiry_date: Some(expiry.clone()),
                    passport_country_of_issue: Some(country.into()),
                }
            };
        match self {
            DemoName::Alice => make("Alice", "Martin", "1990-04-12", "female", "FR", "FR1234567"),
            DemoName::Jonas => make("Jonas", "Berg", "1985-09-03", "male", "SE", "SE7654321"),
            DemoName::Viktor => make("Viktor", "Zane", "1979-02-17", "male", "DE", "DE4445556"),
        }
    }
}

/// A demo applicant picked at random.
pub fn random(today: Date) -> (&'static str, ApplicantRequest) {
    let name = DEMO_NAMES[rand::random_range(0..DEMO_NAMES.len())];
    let req = applicant(name, today).unwrap_or_default();
    (name, req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn every_demo_name_is_an_applicant_and_others_are_refused() {
        let today = date!(2026 - 11 - 21);
        for name in DEMO_NAMES {
            assert!(applicant(name, today).is_some(), "{name}");
        }
        assert!(applicant("mallory", today).is_none());
        let query = DemoQuery {
            demo: Some("mallory".into()),
        };
        assert_eq!(query.applicant(today), Err(UnknownDemo));
        assert_eq!(
            UnknownDemo.to_string(),
            format!(
                "demo: unknown demo applicant; use one of {}",
                DEMO_NAMES.join(", ")
            )
        );
    }

    #[test]
    fn random_picks_a_known_applicant() {
        let (name, req) = random(date!(2026 - 11 - 21));
        assert!(DEMO_NAMES.contains(&name));
        assert!(req.first_name.is_some());
    }
}
