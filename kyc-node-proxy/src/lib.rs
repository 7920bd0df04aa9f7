//! kyc-node-proxy: the local mesh's node proxy for ambient mode (Istio's ztunnel role).
//!
//! | file | concern |
//! |---|---|
//! | `config.rs` | the node's JSON configuration: workloads, services, policies |
//! | `spiffe.rs` | SPIFFE IDs: principal, namespace, service account |
//! | `tls.rs` | mTLS with SPIFFE identities (rustls): the server's SAN checked by the client, the client's read by the server |
//! | `hbone.rs` | the HBONE client: pooled HTTP/2 connections, one CONNECT per tunnel |
//! | `inbound.rs` | a workload's HBONE listener: CONNECT checked, authorized, joined to the app |
//! | `outbound.rs` | a workload's outbound listener: to the waypoint or an endpoint over HBONE |
//! | `authz.rs` | L4 AuthorizationPolicy (principals, namespaces, ports) |
//! | `metrics.rs` | Prometheus counters (ztunnel's names) and counted streams |
//! | `admin.rs` | `/metrics` and `/healthz` |
//! | `run.rs` | starting a node: load, bind, serve; reloading it (SIGHUP) |

pub mod admin;
pub mod authz;
pub mod config;
pub mod hbone;
pub mod inbound;
pub mod metrics;
pub mod outbound;
pub mod run;
pub mod spiffe;
pub mod tls;

pub use config::NodeConfig;
pub use run::Node;
