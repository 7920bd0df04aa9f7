//! Log lines: one JSON object a line (default, for log collectors) or human-readable (`pretty`).
//!
//! The level applies to this project's crates only; libraries log warnings and errors. No handler logs
//! request bodies or applicant fields: personal data never reaches a log line, at any level.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `crate_target` is the service crate (`kyc_aggregator_mgt`).
/// Does nothing if one is already installed (tests).
pub fn init(format: &str, level: &str, crate_target: &str) {
    let level = level.to_ascii_lowercase();
    let filter = EnvFilter::new(format!("warn,kyc_common={level},{crate_target}={level}"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let _already_set = if format == "pretty" {
        builder.compact().try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
    };
}
