//! The basic scorer: the shared basic rules, reported as a `BASIC` report.

use kyc_common::domain::{Applicant, CreditCheckReport, ReportType, ServedBy};
use kyc_scoring::basic_rules;
use kyc_scoring::watchlist::Watchlist;
use kyc_scoring::Scorer;
use time::Date;

pub struct BasicScorer {
    pub watchlist: Watchlist,
}

impl Scorer for BasicScorer {
    fn score(&self, applicant: &Applicant, today: Date, served_by: &ServedBy) -> CreditCheckReport {
        let findings = basic_rules::check(applicant, &self.watchlist, today);
        CreditCheckReport {
            report_type: ReportType::Basic,
            black_listed: findings.black_listed,
            restricted_national: None,
            suspicious_activity: None,
            interpol_conduct_bad: None,
            military_trained: None,
            employment_bad: None,
            credit_usage_bad: None,
            background_check_pass: findings.pass(),
            reasons: findings.reasons,
            served_by: served_by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_common::domain::demo;
    use time::macros::date;

    #[test]
    fn reports_only_the_basic_flags() {
        let today = date!(2026 - 11 - 21);
        let scorer = BasicScorer {
            watchlist: Watchlist::load(None).expect("embedded list"),
        };
        let who = ServedBy {
            service: "basic".into(),
            version: "v1".into(),
            instance: "test".into(),
        };
        let jonas = demo::applicant("jonas", today)
            .expect("demo")
            .parse(today)
            .expect("valid");
        let report = scorer.score(&jonas, today, &who);
        assert_eq!(report.report_type, ReportType::Basic);
        assert!(report.background_check_pass);
        assert!(report.credit_usage_bad.is_none());
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["type"], "BASIC");
        assert!(json.get("creditUsageBad").is_none());
        assert_eq!(json["servedBy"]["version"], "v1");

        let viktor = demo::applicant("viktor", today)
            .expect("demo")
            .parse(today)
            .expect("valid");
        let report = scorer.score(&viktor, today, &who);
        assert!(report.black_listed && !report.background_check_pass);
        assert_eq!(report.reasons[0].code, "WATCHLIST_NAME");
    }
}
