//! `kyc-credit-check-basic`: version 1 of the credit-check scorer.
//!
//! Answers `/credit-check/basic` and `/credit-check/report` with a `BASIC` report: the watchlist, the
//! passport's validity and the applicant's age. In the mesh, `/credit-check/report` is split between this
//! service and `kyc-credit-check-advanced` by the VirtualService `kyc-credit-check`.

pub mod configuration;
pub mod domain;
pub mod routes;
pub mod startup;

pub const SERVICE_NAME: &str = "kyc-credit-check-basic";
