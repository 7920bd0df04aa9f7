//! `kyc-credit-check-advanced`: version 2 of the credit-check scorer, the canary.
//!
//! Answers `/credit-check/advanced` and `/credit-check/report` with an `ADVANCED` report: the basic rules
//! plus restricted countries, a notices list, a fictional bureau (military service, employment, credit
//! use) and suspicious-document heuristics.

pub mod configuration;
pub mod domain;
pub mod routes;
pub mod startup;

pub const SERVICE_NAME: &str = "kyc-credit-check-advanced";
