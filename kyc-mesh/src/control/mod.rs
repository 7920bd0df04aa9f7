//! The control socket between a command (`kyc-mesh rollout restart`, `canary`, `chaos`, a
//! script) and the running `kyc-mesh up`: a Unix socket in the state directory
//! (`<state dir>/control.sock`, the directory `use` already shares), one JSON request line
//! in, one JSON response line out ([`protocol`]); a `subscribe` connection then receives one
//! [`event::Event`] per line. `state` answers [`state::MeshState`].
//!
//! These are the wire's types; [`wire`] is the one place that maps them to and from the
//! mesh's own (`crate::ops`). `up` owns the server ([`server::ControlServer`]): each request
//! reaches its main loop as an `ops::Op` and is answered there, in order with reloads and
//! restarts. A command uses [`client::call`].

pub mod client;
pub mod event;
pub mod protocol;
pub(crate) mod server;
pub mod state;
pub(crate) mod wire;

use std::path::{Path, PathBuf};

/// The socket of the `up` that uses `state_dir`.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

/// The longest request or response line accepted (bounded memory per connection).
pub const MAX_LINE: u64 = 64 * 1024;

#[cfg(test)]
mod tests;
