//! `kyc-aggregator-mgt`: the KYC API a browser or client calls.
//!
//! `GET|POST /kyc/v1/customer?type=…` validates the applicant (or picks a demo applicant for a GET) and
//! asks the credit-check service for a report through the gateway at `KYC_GATEWAY_URL`. It never knows
//! which scorer answers `/credit-check/report`: the mesh decides, and the report says who it was.

pub mod configuration;
pub mod domain;
pub mod routes;
pub mod startup;

pub const SERVICE_NAME: &str = "kyc-aggregator-mgt";
