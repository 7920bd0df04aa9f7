//! The KYC API.

pub mod customer;
