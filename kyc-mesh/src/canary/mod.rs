//! The automated canary (issue 10): Flagger's analysis loop over one weighted route.

pub mod model;
