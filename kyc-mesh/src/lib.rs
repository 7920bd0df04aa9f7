//! kyc-mesh: the KYC services behind a real Envoy configured from networking/*.yaml.
//!
//! A pipeline of typed stages, one module each:
//!
//! ```text
//! networking/*.yaml ─ istio (load) ─▶ Vec<Loaded> ─┬─ registry ─┐
//!                       topology (Ports + Deployments) ─────────┼─▶ analyze ─▶ Findings (check)
//!                                                               └─▶ translate ─▶ ProxyConfig per proxy
//!                                                                    (envoy::* typed structs)
//!        render: serialise a static Bootstrap │ up: apply (xDS files + admin stats) ◀─ supervise
//! ```

pub mod analyze;
pub mod apply;
pub mod canary;
pub mod cli;
pub mod control;
pub mod dashboard;
pub mod envoy;
mod errors;
pub mod field;
mod files;
pub mod identity;
pub mod injection;
pub mod istio;
pub mod ops;
pub mod prometheus;
pub mod registry;
pub mod scenario;
pub mod snapshot;
pub mod split;
pub mod status;
pub mod supervise;
pub mod topology;
pub mod translate;
pub mod up;
pub mod weights;
