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

// The public surface is what the `kyc-mesh` binary (`cli`) and the end-to-end tests use: the
// control protocol, `status`, the admin client, finding Envoy and Prometheus, and the
// gateway listener's stat names (`snapshot::gateway_listener`). Everything else is the
// crate's own (`unreachable_pub` keeps it so).
#![warn(unreachable_pub)]

mod analyze;
pub mod apply;
mod canary;
pub mod cli;
pub mod control;
mod dashboard;
mod envoy;
mod errors;
mod field;
mod files;
mod identity;
mod injection;
mod istio;
mod ops;
pub mod prometheus;
mod registry;
mod scenario;
pub mod snapshot;
mod split;
pub mod status;
pub mod supervise;
pub mod topology;
mod translate;
mod up;
mod weights;
