//! kyc-mesh: the KYC services behind a real Envoy configured from networking/*.yaml.
//!
//! A pipeline of typed stages, one module each (docs/architecture.md is the map):
//!
//! ```text
//! networking/*.yaml + scenario ─ snapshot::Sources::read (the one read) ─ istio (load) ─▶ Vec<Loaded>
//!   ─▶ snapshot::Snapshot: one immutable generation (+ weight overrides, topology, injection,
//!      replicas, weighted routes; registry for lookups)
//!   ─▶ translate (pure; calls analyze) ─▶ ProxyConfig per proxy (envoy::* typed structs)
//!        check: findings │ render: a static Bootstrap, serialised once │ up: apply (xDS files,
//!        clusters → listeners → routes → removals, each confirmed by admin stats) ◀─ supervise
//! ```
//!
//! Running, `up` speaks the mesh's own vocabulary (`ops`); the control socket (`control`) and
//! the dashboard are edges that turn their input into it once.

// The public surface is what the `kyc-mesh` binary (`cli`) and the end-to-end tests use: the
// control protocol, `status`, the admin client, finding Envoy and Prometheus, and the
// gateway listener's stat names (`snapshot::gateway_listener`). Everything else is the
// crate's own (`unreachable_pub` keeps it so).
#![warn(unreachable_pub)]

mod ambient;
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
pub mod token;
pub mod topology;
mod traces;
mod translate;
mod up;
mod weights;

#[cfg(test)]
mod architecture_tests;
