//! Scalar values Envoy spells in its own way: durations ("1.5s"), route weights and
//! fractional percentages.

use std::fmt;

use serde::{Serialize, Serializer};

/// A `google.protobuf.Duration`, parsed from Istio's spelling ("5s", "250ms", "1m") and
/// written the way Envoy's JSON reads it ("0.25s").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub std::time::Duration);

/// Why an Istio duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("duration {0:?} needs a unit (ms, s, m, h)")]
    NoUnit(String),
    #[error("duration {0:?} is not a number followed by a unit")]
    NotANumber(String),
    #[error("duration {0:?}: unknown unit {1:?}")]
    UnknownUnit(String, String),
    #[error("duration {0:?} is out of range")]
    OutOfRange(String),
}

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }

    /// Parse a duration as written in Istio YAML.
    pub fn parse_istio(text: &str) -> Result<Self, DurationError> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| DurationError::NoUnit(text.to_string()))?;
        let (num, unit) = t.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| DurationError::NotANumber(text.to_string()))?;
        let secs = match unit {
            "h" => value * 3600.0,
            "m" => value * 60.0,
            "s" => value,
            "ms" => value / 1e3,
            "us" | "µs" => value / 1e6,
            "ns" => value / 1e9,
            _ => {
                return Err(DurationError::UnknownUnit(
                    text.to_string(),
                    unit.to_string(),
                ))
            }
        };
        if !secs.is_finite() || secs < 0.0 {
            return Err(DurationError::OutOfRange(text.to_string()));
        }
        Ok(Duration(std::time::Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else {
            let s = format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
            write!(f, "{}s", s.trim_end_matches('0'))
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A route weight: Istio's `route[].weight`, carried unchanged into Envoy's
/// `weighted_clusters.clusters[].weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
#[serde(transparent)]
pub(crate) struct Weight(pub u32);

/// Istio's `percentage.value` (0..100, fractions allowed) as Envoy's
/// `FractionalPercent` over a million.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct FractionalPercent {
    pub(crate) numerator: u64,
    pub(crate) denominator: Denominator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Denominator {
    #[serde(rename = "MILLION")]
    Million,
}

/// Why an Istio percentage could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("percentage {0} must be within 0..100")]
pub(crate) struct PercentError(pub f64);

impl FractionalPercent {
    /// `None` (no `percentage` in the YAML) means every request, as in Istio.
    pub(crate) fn from_percent(value: Option<f64>) -> Result<Self, PercentError> {
        let value = value.unwrap_or(100.0);
        if !(0.0..=100.0).contains(&value) {
            return Err(PercentError(value));
        }
        Ok(FractionalPercent {
            numerator: (value * 10_000.0).round() as u64,
            denominator: Denominator::Million,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envoy(text: &str) -> String {
        Duration::parse_istio(text)
            .map(|d| d.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn parses_istio_durations() {
        assert_eq!(envoy("5s"), "5s");
        assert_eq!(envoy("250ms"), "0.25s");
        assert_eq!(envoy("1.5s"), "1.5s");
        assert_eq!(envoy("1m"), "60s");
        assert!(Duration::parse_istio("5").is_err());
        assert!(Duration::parse_istio("fast").is_err());
        assert!(Duration::parse_istio("5d").is_err());
    }

    #[test]
    fn percentages_are_millionths() {
        let p = FractionalPercent::from_percent(Some(12.5)).expect("in range");
        assert_eq!(p.numerator, 125_000);
        assert_eq!(
            FractionalPercent::from_percent(None).map(|p| p.numerator),
            Ok(1_000_000)
        );
        assert!(FractionalPercent::from_percent(Some(101.0)).is_err());
    }
}
