//! Fictional demo applicants, scored when a request comes without a body (a browser's GET).
//!
//! Their passports expire five years after today, so they stay valid whenever the demo runs.
//! * `alice`: clean; both scorers pass her.
//! * `jonas`: clean for the basic scorer, but the fictional bureau reports heavy credit use, so the
//!   advanced scorer fails him: the canary's two versions visibly disagree.
//! * `viktor`: on the watchlist; both scorers fail him.

use time::{Date, Duration};

use super::applicant::iso;
use super::ApplicantRequest;

/// Names a request may pass as `?demo=`.
pub const DEMO_NAMES: [&str; 3] = ["alice", "jonas", "viktor"];

/// The demo applicant called `name`, if there is one.
pub fn applicant(name: &str, today: Date) -> Option<ApplicantRequest> {
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
    match name {
        "alice" => Some(make(
            "Alice",
            "Martin",
            "1990-04-12",
            "female",
            "FR",
            "FR1234567",
        )),
        "jonas" => Some(make(
            "Jonas",
            "Berg",
            "1985-09-03",
            "male",
            "SE",
            "SE7654321",
        )),
        "viktor" => Some(make(
            "Viktor",
            "Zane",
            "1979-02-17",
            "male",
            "DE",
            "DE4445556",
        )),
        _ => None,
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
    use crate::domain::basic_rules;
    use crate::domain::watchlist::Watchlist;
    use time::macros::date;

    #[test]
    fn every_demo_applicant_is_valid_and_scores_as_documented() {
        let today = date!(2026 - 11 - 21);
        let list = Watchlist::load(None).expect("embedded watchlist");
        for name in DEMO_NAMES {
            let a = applicant(name, today)
                .expect("exists")
                .parse(today)
                .expect("valid");
            let pass = basic_rules::check(&a, &list, today).pass();
            assert_eq!(pass, name != "viktor", "{name}");
        }
        assert!(applicant("mallory", today).is_none());
    }

    #[test]
    fn random_picks_a_known_applicant() {
        let (name, req) = random(date!(2026 - 11 - 21));
        assert!(DEMO_NAMES.contains(&name));
        assert!(req.first_name.is_some());
    }
}
