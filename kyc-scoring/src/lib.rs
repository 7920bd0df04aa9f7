//! What both credit-check scorers share, and the aggregator does not:
//!
//! * [`names`]: name matching that ignores case, accents, punctuation and spacing.
//! * [`reference`](mod@reference): loading a reference list, embedded or from a configured file.
//! * [`watchlist`]: the watchlist; [`basic_rules`]: the basic rules both scorers apply.
//! * [`scorer`]: the [`Scorer`] trait (the one thing that differs between the two services) and the
//!   services' state.
//! * [`metrics`](mod@metrics): reports by type and outcome, reasons by code.
//! * [`routes`]: the scoring routes, on the scorer's own path and on the canary path.

pub mod basic_rules;
pub mod metrics;
pub mod names;
pub mod reference;
pub mod routes;
pub mod scorer;
pub mod watchlist;

pub use scorer::{Scorer, ScorerState};
