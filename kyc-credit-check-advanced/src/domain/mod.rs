//! The advanced scorer: the basic rules, then the advanced ones.

pub mod reference;
pub mod rules;

pub use reference::ReferenceData;
pub use rules::AdvancedScorer;
