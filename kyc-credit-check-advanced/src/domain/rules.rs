//! The advanced rules, applied after the basic ones. Every raised flag adds a reason with a stable code.
//!
//! | code | flag | rule |
//! |---|---|---|
//! | `RESTRICTED_CITIZENSHIP` | `restrictedNational` | citizenship on the restricted list |
//! | `RESTRICTED_RESIDENCE` | `restrictedNational` | residence country on the restricted list |
//! | `INTERPOL_NOTICE` | `interpolConductBad` | normalised full name and birth date on the notices list |
//! | `MILITARY_TRAINED` | `militaryTrained` | bureau: at least one year of military service |
//! | `EMPLOYMENT_GAP` | `employmentBad` | bureau: 12 or more months unemployed in the last 24 |
//! | `EMPLOYMENT_DISMISSAL` | `employmentBad` | bureau: dismissed for misconduct |
//! | `CREDIT_UTILISATION_HIGH` | `creditUsageBad` | bureau: more than 90% of available credit in use |
//! | `CREDIT_MISSED_PAYMENTS` | `creditUsageBad` | bureau: 3 or more missed payments in 12 months |
//! | `PASSPORT_ISSUER_MISMATCH` | `suspiciousActivity` | passport issued by neither the citizenship nor the residence country |
//! | `PASSPORT_VALIDITY_TOO_LONG` | `suspiciousActivity` | passport expires more than 10 years after today (no passport is issued for longer) |

use kyc_common::domain::{Applicant, CreditCheckReport, Reason, ReportType, ServedBy};
use kyc_scoring::basic_rules;
use kyc_scoring::watchlist::Watchlist;
use kyc_scoring::Scorer;
use time::{Date, Duration};

use super::reference::BureauRecord;
use super::ReferenceData;

pub const MILITARY_SERVICE_MIN_YEARS: u32 = 1;
pub const UNEMPLOYED_MONTHS_MAX: u32 = 12;
pub const CREDIT_UTILISATION_MAX: f64 = 0.9;
pub const MISSED_PAYMENTS_MAX: u32 = 3;
pub const PASSPORT_MAX_VALIDITY_DAYS: i64 = 10 * 366;

/// A report flag an advanced rule raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    RestrictedNational,
    InterpolConductBad,
    MilitaryTrained,
    EmploymentBad,
    CreditUsageBad,
    SuspiciousActivity,
}

impl Flag {
    /// The report field, as a reason names it.
    fn field(self) -> &'static str {
        match self {
            Flag::RestrictedNational => "restrictedNational",
            Flag::InterpolConductBad => "interpolConductBad",
            Flag::MilitaryTrained => "militaryTrained",
            Flag::EmploymentBad => "employmentBad",
            Flag::CreditUsageBad => "creditUsageBad",
            Flag::SuspiciousActivity => "suspiciousActivity",
        }
    }
}

/// What a rule looks at.
struct Facts<'a> {
    applicant: &'a Applicant,
    today: Date,
    reference: &'a ReferenceData,
    /// The bureau's record for the passport, if it has one.
    record: Option<&'a BureauRecord>,
}

impl Facts<'_> {
    fn bureau(&self, test: impl Fn(&BureauRecord) -> bool) -> bool {
        self.record.is_some_and(test)
    }
}

/// One advanced rule: the reason it gives, and when it fires.
struct Rule {
    code: &'static str,
    flag: Flag,
    message: &'static str,
    fires: fn(&Facts<'_>) -> bool,
}

/// The advanced rules, in the order their reasons are listed (the table above).
const RULES: [Rule; 10] = [
    Rule {
        code: "RESTRICTED_CITIZENSHIP",
        flag: Flag::RestrictedNational,
        message: "the citizenship country is on the restricted list",
        fires: |f| f.reference.is_restricted(&f.applicant.citizenship),
    },
    Rule {
        code: "RESTRICTED_RESIDENCE",
        flag: Flag::RestrictedNational,
        message: "the residence country is on the restricted list",
        fires: |f| {
            f.reference
                .is_restricted(&f.applicant.current_residence_country)
        },
    },
    Rule {
        code: "INTERPOL_NOTICE",
        flag: Flag::InterpolConductBad,
        message: "name and birth date match an entry on the notices list",
        fires: |f| {
            let a = f.applicant;
            f.reference
                .has_notice(&a.first_name, &a.last_name, a.date_of_birth)
        },
    },
    Rule {
        code: "MILITARY_TRAINED",
        flag: Flag::MilitaryTrained,
        message: "the bureau records military service",
        fires: |f| f.bureau(|r| r.military_service_years >= MILITARY_SERVICE_MIN_YEARS),
    },
    Rule {
        code: "EMPLOYMENT_GAP",
        flag: Flag::EmploymentBad,
        message: "the bureau records 12 or more months unemployed in the last 24",
        fires: |f| f.bureau(|r| r.months_unemployed_last24 >= UNEMPLOYED_MONTHS_MAX),
    },
    Rule {
        code: "EMPLOYMENT_DISMISSAL",
        flag: Flag::EmploymentBad,
        message: "the bureau records a dismissal for misconduct",
        fires: |f| f.bureau(|r| r.dismissed_for_misconduct),
    },
    Rule {
        code: "CREDIT_UTILISATION_HIGH",
        flag: Flag::CreditUsageBad,
        message: "the bureau reports credit utilisation above 90%",
        fires: |f| f.bureau(|r| r.credit_utilisation > CREDIT_UTILISATION_MAX),
    },
    Rule {
        code: "CREDIT_MISSED_PAYMENTS",
        flag: Flag::CreditUsageBad,
        message: "the bureau reports 3 or more missed payments in 12 months",
        fires: |f| f.bureau(|r| r.missed_payments_12m >= MISSED_PAYMENTS_MAX),
    },
    Rule {
        code: "PASSPORT_ISSUER_MISMATCH",
        flag: Flag::SuspiciousActivity,
        message: "the passport was issued by neither the citizenship nor the residence country",
        fires: |f| {
            let a = f.applicant;
            a.passport_country_of_issue != a.citizenship
                && a.passport_country_of_issue != a.current_residence_country
        },
    },
    Rule {
        code: "PASSPORT_VALIDITY_TOO_LONG",
        flag: Flag::SuspiciousActivity,
        message: "the passport expires more than 10 years from today",
        fires: |f| {
            f.applicant.passport_expiry_date
                > f.today
                    .saturating_add(Duration::days(PASSPORT_MAX_VALIDITY_DAYS))
        },
    },
];

pub struct AdvancedScorer {
    pub watchlist: Watchlist,
    pub reference: ReferenceData,
}

impl Scorer for AdvancedScorer {
    fn score(&self, a: &Applicant, today: Date, served_by: &ServedBy) -> CreditCheckReport {
        let basic = basic_rules::check(a, &self.watchlist, today);
        let facts = Facts {
            applicant: a,
            today,
            reference: &self.reference,
            record: self.reference.bureau(&a.passport_number),
        };
        let fired: Vec<&Rule> = RULES.iter().filter(|rule| (rule.fires)(&facts)).collect();
        let raised = |flag: Flag| fired.iter().any(|rule| rule.flag == flag);
        let mut reasons = basic.reasons.clone();
        reasons.extend(
            fired
                .iter()
                .map(|rule| Reason::new(rule.code, rule.flag.field(), rule.message)),
        );
        CreditCheckReport {
            report_type: ReportType::Advanced,
            black_listed: basic.black_listed,
            restricted_national: Some(raised(Flag::RestrictedNational)),
            suspicious_activity: Some(raised(Flag::SuspiciousActivity)),
            interpol_conduct_bad: Some(raised(Flag::InterpolConductBad)),
            military_trained: Some(raised(Flag::MilitaryTrained)),
            employment_bad: Some(raised(Flag::EmploymentBad)),
            credit_usage_bad: Some(raised(Flag::CreditUsageBad)),
            background_check_pass: basic.pass() && fired.is_empty(),
            reasons,
            served_by: served_by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reference::ReferencePaths;
    use kyc_common::domain::{demo, ApplicantRequest};
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 21);

    fn scorer() -> AdvancedScorer {
        AdvancedScorer {
            watchlist: Watchlist::load(None).expect("watchlist"),
            reference: ReferenceData::load(ReferencePaths::default()).expect("reference data"),
        }
    }

    fn who() -> ServedBy {
        ServedBy {
            service: "advanced".into(),
            version: "v2".into(),
            instance: "test".into(),
        }
    }

    fn base() -> ApplicantRequest {
        ApplicantRequest {
            first_name: Some("Clean".into()),
            last_name: Some("Person".into()),
            date_of_birth: Some("1980-05-05".into()),
            citizenship: Some("FR".into()),
            current_residence_country: Some("FR".into()),
            passport_number: Some("FR0000042".into()),
            passport_expiry_date: Some("2030-01-01".into()),
            passport_country_of_issue: Some("FR".into()),
            ..Default::default()
        }
    }

    fn score(req: ApplicantRequest) -> CreditCheckReport {
        scorer().score(&req.parse(TODAY).expect("valid"), TODAY, &who())
    }

    fn codes(r: &CreditCheckReport) -> Vec<&str> {
        r.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn a_clean_applicant_passes_with_every_flag_false() {
        let r = score(base());
        assert!(r.background_check_pass);
        assert_eq!(r.report_type, ReportType::Advanced);
        for flag in [
            r.restricted_national,
            r.suspicious_activity,
            r.interpol_conduct_bad,
            r.military_trained,
            r.employment_bad,
            r.credit_usage_bad,
        ] {
            assert_eq!(flag, Some(false));
        }
        assert!(r.reasons.is_empty());
    }

    #[test]
    fn restricted_citizenship_or_residence() {
        let r = score(ApplicantRequest {
            citizenship: Some("PRK".into()),
            passport_country_of_issue: Some("KP".into()),
            ..base()
        });
        assert_eq!(r.restricted_national, Some(true));
        assert_eq!(codes(&r), ["RESTRICTED_CITIZENSHIP"]);
        assert!(!r.background_check_pass);
        let r = score(ApplicantRequest {
            current_residence_country: Some("IR".into()),
            ..base()
        });
        assert_eq!(codes(&r), ["RESTRICTED_RESIDENCE"]);
    }

    #[test]
    fn notice_needs_name_and_birth_date() {
        let notice = ApplicantRequest {
            first_name: Some("ludo".into()),
            last_name: Some("FARROW".into()),
            date_of_birth: Some("1975-01-09".into()),
            ..base()
        };
        let r = score(notice.clone());
        assert_eq!(r.interpol_conduct_bad, Some(true));
        assert_eq!(codes(&r), ["INTERPOL_NOTICE"]);
        let r = score(ApplicantRequest {
            date_of_birth: Some("1982-07-01".into()),
            ..notice
        });
        assert_eq!(r.interpol_conduct_bad, Some(false));
    }

    #[test]
    fn bureau_flags() {
        let with_passport = |p: &str| ApplicantRequest {
            passport_number: Some(p.into()),
            ..base()
        };
        let r = score(with_passport("US2223334"));
        assert_eq!(
            (r.military_trained, codes(&r)),
            (Some(true), vec!["MILITARY_TRAINED"])
        );
        let r = score(with_passport("GB8887776"));
        assert_eq!(r.employment_bad, Some(true));
        assert_eq!(r.credit_usage_bad, Some(true));
        assert_eq!(codes(&r), ["EMPLOYMENT_GAP", "CREDIT_MISSED_PAYMENTS"]);
        let r = score(with_passport("NL1112223"));
        assert_eq!(codes(&r), ["EMPLOYMENT_DISMISSAL"]);
        let r = score(with_passport("SE7654321"));
        assert_eq!(codes(&r), ["CREDIT_UTILISATION_HIGH"]);
        assert!(!r.background_check_pass);
        let r = score(with_passport("FR1234567"));
        assert!(
            r.background_check_pass,
            "a record below every threshold raises nothing"
        );
    }

    #[test]
    fn suspicious_documents() {
        let r = score(ApplicantRequest {
            passport_country_of_issue: Some("BE".into()),
            ..base()
        });
        assert_eq!(r.suspicious_activity, Some(true));
        assert_eq!(codes(&r), ["PASSPORT_ISSUER_MISMATCH"]);
        let r = score(ApplicantRequest {
            current_residence_country: Some("BE".into()),
            passport_country_of_issue: Some("BE".into()),
            ..base()
        });
        assert_eq!(
            r.suspicious_activity,
            Some(false),
            "issued by the residence country is fine"
        );
        let r = score(ApplicantRequest {
            passport_expiry_date: Some("2037-01-01".into()),
            ..base()
        });
        assert_eq!(codes(&r), ["PASSPORT_VALIDITY_TOO_LONG"]);
    }

    #[test]
    fn basic_rules_still_apply() {
        let r = score(ApplicantRequest {
            first_name: Some("Viktor".into()),
            last_name: Some("Zane".into()),
            ..base()
        });
        assert!(r.black_listed && !r.background_check_pass);
        let r = score(ApplicantRequest {
            passport_expiry_date: Some("2020-01-01".into()),
            ..base()
        });
        assert_eq!(codes(&r), ["PASSPORT_EXPIRED"]);
        assert!(!r.background_check_pass);
    }

    #[test]
    fn demo_applicants_disagree_between_versions_as_documented() {
        let today = TODAY;
        let jonas = demo::applicant("jonas", today).expect("demo");
        let r = scorer().score(&jonas.parse(today).expect("valid"), today, &who());
        assert!(!r.background_check_pass);
        assert_eq!(r.credit_usage_bad, Some(true));
        let alice = demo::applicant("alice", today).expect("demo");
        let r = scorer().score(&alice.parse(today).expect("valid"), today, &who());
        assert!(r.background_check_pass);
    }
}
