//! `/credit-check/advanced` and `/credit-check/report`: GET scores a demo applicant, POST the posted one.

kyc_common::scorer_routes!(
    path: "/credit-check/advanced",
    report: "ADVANCED report",
    rules: "the basic rules plus restricted countries, the notices list, the bureau (military service, employment, credit use) and suspicious-document heuristics (every rule is listed in the README)",
);
