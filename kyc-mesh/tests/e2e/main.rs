//! kyc-mesh's end-to-end tests, one test binary (so every shared helper is used somewhere):
//!
//! - [`ambient`]: ambient mode (node proxies, HBONE, the waypoint) with the real services;
//! - [`canary`]: `kyc-mesh canary` promoting, rolling back, pausing, aborting (real services);
//! - [`canary_cluster`]: `canary --cluster` against a stand-in Prometheus and kubectl;
//! - [`cli_weights`]: `kyc-mesh weights` (override, clear, `--print`, `--write`) and
//!   `split --url` on a running mesh;
//! - [`control`]: the control socket's set-weights, chaos, state and events (real services);
//! - [`dashboard`]: the live dashboard in a real headless Chromium, its API and its security;
//! - [`envoy`]: routing through a real Envoy in front of stand-in backends, one test per
//!   scenario of networking/scenarios;
//! - [`generations`]: networking/ read once per configuration generation (opens counted by
//!   inotify);
//! - [`lifecycle`]: rendered configs Envoy accepts, live reload under load, invalid edits,
//!   `check`, start-up errors, shutdown and Envoy options;
//! - [`services`]: the real service binaries behind Envoy (after `cargo build --workspace --bins`);
//! - [`sidecars`]: sidecars, mTLS, policies, `curl --from`, `status`, mesh routing;
//! - [`sidecar_observe`]: the dashboard and Prometheus of a mesh with sidecars under mTLS STRICT;
//! - [`prometheus`]: the real Prometheus `up` starts, against docs/observability.md's queries;
//! - [`replicas`]: `spec.replicas` instances, outlier detection across them, `chaos --instance`,
//!   per-instance restarts and rollouts;
//! - [`supervision`]: restarts of a killed service, `rollout restart` under load;
//! - [`traces`]: `up`'s OTLP receiver: one trace across every hop, the dashboard's traces
//!   clicked from an edge in Chromium, `canary --report-html`, `up --record` and `replay`;
//! - [`gateway`]: the gateway's client limits (431, slow headers, connection limit);
//! - [`gateway_api`]: the Gateway API scenario (Gateway + HTTPRoutes) on the running mesh;
//! - [`hostile_yaml`]: hostile YAML saved into a running mesh's networking/;
//! - [`jwt_auth`]: end-user authentication (jwt-auth): Istio's statuses, hostile tokens, the
//!   audit line, the mesh's own traffic with a demo token, live key rotation under load;
//! - [`run_local_script`]: scripts/run-local.sh's help and Envoy discovery.
//!
//! [`helpers`] holds the fixtures (`helpers::cdp`: Chromium driven over the DevTools
//! protocol, to click): Envoy discovery (a missing Envoy fails loudly unless
//! `KYC_MESH_E2E_SKIP=1`), stand-in backends, `kyc-mesh up` as a child process, HTTP
//! tallies and polling (never sleeps as synchronisation).

#[macro_use]
mod helpers;

mod ambient;
mod canary;
mod canary_cluster;
mod cli_weights;
mod control;
mod dashboard;
mod envoy;
mod gateway;
mod gateway_api;
mod generations;
mod hostile_yaml;
mod jwt_auth;
mod lifecycle;
mod prometheus;
mod replicas;
mod run_local_script;
mod services;
mod sidecar_observe;
mod sidecars;
mod supervision;
mod traces;
