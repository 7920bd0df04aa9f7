//! Log lines: one JSON object a line (default, for log collectors) or human-readable (`pretty`).
//!
//! The level applies to this project's crates only; libraries log warnings and errors. No handler logs
//! request bodies or applicant fields: personal data never reaches a log line, at any level.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{filter_fn, FilterExt, Targets};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::configuration::{LogFormat, LogLevel};

/// Installs the global subscriber. `crate_target` is the service crate (`kyc_aggregator_mgt`).
/// Does nothing if one is already installed (tests). With `OTEL_EXPORTER_OTLP_ENDPOINT` set, requests'
/// spans are exported too ([`crate::otel`], independent of this subscriber and of the log level).
pub fn init(format: LogFormat, level: LogLevel, crate_target: &str) {
    let targets = |level: LevelFilter| {
        Targets::new()
            .with_default(LevelFilter::WARN)
            .with_target("kyc_common", level)
            .with_target("kyc_scoring", level)
            .with_target(crate_target.to_owned(), level)
    };
    // Log lines are events only: a span's fields are never formatted.
    let filter = targets(LevelFilter::from(level)).and(filter_fn(|m| m.is_event()));
    // Colours only for a terminal: piped output (kyc-mesh, log files, kubectl logs) stays plain text.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal());
    crate::otel::init(&crate_target.replace('_', "-"));
    let registry = tracing_subscriber::registry();
    let _already_set = if format == LogFormat::Pretty {
        registry.with(fmt.compact().with_filter(filter)).try_init()
    } else {
        registry
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_filter(filter),
            )
            .try_init()
    };
}
