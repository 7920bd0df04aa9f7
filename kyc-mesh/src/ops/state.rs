//! The mesh's state as `state` answers it (and the dashboard shows it), and the runtime
//! chaos of a service.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canary::load::LoadStatus;
use crate::canary::model::CanaryStatus;
use crate::field::FieldError;
use crate::weights::WeightedRoute;

/// The weighted routes in force, the chaos settings, the canary and the load generator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MeshState {
    pub(crate) routes: Vec<WeightedRoute>,
    /// By service; a service absent has no runtime chaos (its env knobs apply).
    pub(crate) chaos: BTreeMap<String, ChaosSetting>,
    pub(crate) canary: Option<CanaryStatus>,
    pub(crate) load: LoadStatus,
}

/// The longest runtime delay a service accepts (`kyc_common::http::chaos_admin::MAX_DELAY_MS`).
pub(crate) const MAX_DELAY_MS: u64 = 60_000;

/// A service's runtime chaos: what `PUT /admin/chaos` of its instances is given (that JSON).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChaosSetting {
    pub error_rate: f64,
    pub delay_ms: u64,
}

impl ChaosSetting {
    pub fn is_off(&self) -> bool {
        self.error_rate == 0.0 && self.delay_ms == 0
    }

    /// A chaos request's values (`None` = off), checked once at the edge that received them.
    pub fn from_request(
        error_rate: Option<f64>,
        delay_ms: Option<u64>,
        off: bool,
    ) -> Result<Option<ChaosSetting>, FieldError> {
        if off {
            if error_rate.is_some() || delay_ms.is_some() {
                return Err(FieldError::new(
                    "off",
                    "cannot be combined with errorRate or delayMs",
                ));
            }
            return Ok(None);
        }
        if error_rate.is_none() && delay_ms.is_none() {
            return Err(FieldError::new(
                "errorRate",
                "give errorRate and/or delayMs, or off: true",
            ));
        }
        let error_rate = error_rate.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&error_rate) {
            return Err(FieldError::new(
                "errorRate",
                format!("{error_rate} is not between 0 and 1"),
            ));
        }
        let delay_ms = delay_ms.unwrap_or(0);
        if delay_ms > MAX_DELAY_MS {
            return Err(FieldError::new(
                "delayMs",
                format!("{delay_ms} is more than {MAX_DELAY_MS}"),
            ));
        }
        let s = ChaosSetting {
            error_rate,
            delay_ms,
        };
        Ok((!s.is_off()).then_some(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_naming_the_field() {
        let setting = ChaosSetting::from_request;
        assert_eq!(setting(None, None, true), Ok(None));
        assert_eq!(setting(Some(0.0), Some(0), false), Ok(None));
        let s = setting(Some(0.3), None, false).expect("valid");
        assert_eq!(s.map(|s| s.delay_ms), Some(0));
        for (rate, delay, off, field) in [
            (Some(1.5), None, false, "errorRate"),
            (Some(-0.1), None, false, "errorRate"),
            (Some(f64::NAN), None, false, "errorRate"),
            (None, Some(60_001), false, "delayMs"),
            (None, None, false, "errorRate"),
            (Some(0.1), None, true, "off"),
        ] {
            let e = setting(rate, delay, off).expect_err(field);
            assert_eq!(e.field, field);
            assert!(e.to_string().starts_with(field), "{e}");
        }
    }
}
