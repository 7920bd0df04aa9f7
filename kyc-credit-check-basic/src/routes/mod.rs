//! `/credit-check/basic` and `/credit-check/report`: GET scores a demo applicant, POST the posted one.

kyc_common::scorer_routes!(
    path: "/credit-check/basic",
    report: "BASIC report",
    rules: "the basic rules: watchlist (name, passport number), passport expired, younger than 18",
);
