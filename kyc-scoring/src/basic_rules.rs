//! The basic rules, applied by both scorers.
//!
//! | code | flag | rule |
//! |---|---|---|
//! | `WATCHLIST_NAME` | `blackListed` | normalised full name on the watchlist |
//! | `WATCHLIST_PASSPORT` | `blackListed` | passport number on the watchlist |
//! | `PASSPORT_EXPIRED` | `backgroundCheckPass` | passport expiry date before today |
//! | `UNDERAGE` | `backgroundCheckPass` | younger than 18 today |

use time::Date;

use kyc_common::domain::{Applicant, Reason};

use crate::watchlist::Watchlist;

pub const ADULT_AGE: i32 = 18;

/// What the basic rules found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BasicFindings {
    pub black_listed: bool,
    /// True when the passport is valid today and the applicant is an adult.
    pub documents_ok: bool,
    pub reasons: Vec<Reason>,
}

impl BasicFindings {
    /// `backgroundCheckPass` of a basic report.
    pub fn pass(&self) -> bool {
        !self.black_listed && self.documents_ok
    }
}

pub fn check(applicant: &Applicant, watchlist: &Watchlist, today: Date) -> BasicFindings {
    let mut reasons = Vec::new();
    let by_name = watchlist.has_name(&applicant.first_name, &applicant.last_name);
    if by_name {
        reasons.push(Reason::new(
            "WATCHLIST_NAME",
            "blackListed",
            "the applicant's name is on the watchlist",
        ));
    }
    let by_passport = watchlist.has_passport(&applicant.passport_number);
    if by_passport {
        reasons.push(Reason::new(
            "WATCHLIST_PASSPORT",
            "blackListed",
            "the passport number is on the watchlist",
        ));
    }
    let expired = applicant.passport_expiry_date < today;
    if expired {
        reasons.push(Reason::new(
            "PASSPORT_EXPIRED",
            "backgroundCheckPass",
            "the passport expired before today",
        ));
    }
    let underage = applicant.age_on(today) < ADULT_AGE;
    if underage {
        reasons.push(Reason::new(
            "UNDERAGE",
            "backgroundCheckPass",
            "the applicant is younger than 18",
        ));
    }
    BasicFindings {
        black_listed: by_name || by_passport,
        documents_ok: !expired && !underage,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_common::domain::{demo, ApplicantRequest};
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 21);

    fn applicant(first: &str, last: &str, born: &str, passport: &str, expires: &str) -> Applicant {
        ApplicantRequest {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            date_of_birth: Some(born.into()),
            citizenship: Some("FR".into()),
            current_residence_country: Some("FR".into()),
            passport_number: Some(passport.into()),
            passport_expiry_date: Some(expires.into()),
            passport_country_of_issue: Some("FR".into()),
            ..Default::default()
        }
        .parse(TODAY)
        .expect("valid applicant")
    }

    fn list() -> Watchlist {
        Watchlist::new(["José Núñez".to_string()], ["BAD12345".to_string()])
    }

    fn codes(f: &BasicFindings) -> Vec<&str> {
        f.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn a_clean_adult_with_a_valid_passport_passes() {
        let f = check(
            &applicant("Alice", "Martin", "1990-01-01", "FR1234567", "2030-01-01"),
            &list(),
            TODAY,
        );
        assert!(f.pass());
        assert!(!f.black_listed);
        assert!(f.reasons.is_empty());
    }

    #[test]
    fn name_on_watchlist_ignoring_case_accents_and_spacing() {
        let f = check(
            &applicant("  JOSE ", "nunez", "1990-01-01", "FR1234567", "2030-01-01"),
            &list(),
            TODAY,
        );
        assert!(f.black_listed);
        assert!(!f.pass());
        assert_eq!(codes(&f), ["WATCHLIST_NAME"]);
    }

    #[test]
    fn passport_on_watchlist() {
        let f = check(
            &applicant("Alice", "Martin", "1990-01-01", "bad12345", "2030-01-01"),
            &list(),
            TODAY,
        );
        assert!(f.black_listed);
        assert_eq!(codes(&f), ["WATCHLIST_PASSPORT"]);
        assert_eq!(f.reasons[0].flag, "blackListed");
    }

    #[test]
    fn expired_passport_fails_but_expiring_today_passes() {
        let f = check(
            &applicant("Alice", "Martin", "1990-01-01", "FR1234567", "2026-11-20"),
            &list(),
            TODAY,
        );
        assert!(!f.black_listed && !f.pass());
        assert_eq!(codes(&f), ["PASSPORT_EXPIRED"]);
        let f = check(
            &applicant("Alice", "Martin", "1990-01-01", "FR1234567", "2026-11-21"),
            &list(),
            TODAY,
        );
        assert!(f.pass());
    }

    #[test]
    fn must_be_eighteen_today() {
        let f = check(
            &applicant("Alice", "Martin", "2008-11-22", "FR1234567", "2030-01-01"),
            &list(),
            TODAY,
        );
        assert_eq!(codes(&f), ["UNDERAGE"]);
        assert!(!f.pass());
        let f = check(
            &applicant("Alice", "Martin", "2008-11-21", "FR1234567", "2030-01-01"),
            &list(),
            TODAY,
        );
        assert!(f.pass());
    }

    #[test]
    fn every_failure_is_listed_in_rule_order() {
        let f = check(
            &applicant("José", "Núñez", "2010-01-01", "BAD12345", "2020-01-01"),
            &list(),
            TODAY,
        );
        assert_eq!(
            codes(&f),
            [
                "WATCHLIST_NAME",
                "WATCHLIST_PASSPORT",
                "PASSPORT_EXPIRED",
                "UNDERAGE"
            ]
        );
    }

    #[test]
    fn every_demo_applicant_is_valid_and_scores_as_documented() {
        let today = date!(2026 - 11 - 21);
        let list = Watchlist::load(None).expect("embedded watchlist");
        for name in demo::DEMO_NAMES {
            let a = demo::applicant(name, today)
                .expect("exists")
                .parse(today)
                .expect("valid");
            let pass = check(&a, &list, today).pass();
            assert_eq!(pass, name != "viktor", "{name}");
        }
        assert!(demo::applicant("mallory", today).is_none());
    }
}
