//! The types settings are parsed into. Each `FromStr` error says what the value must be.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tracing::level_filters::LevelFilter;

/// `KYC_LOG_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line, for log collectors.
    Json,
    /// Human-readable lines.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            _ => Err("must be `json` or `pretty`"),
        }
    }
}

/// `KYC_LOG_LEVEL`, any case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl FromStr for LogLevel {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            _ => Err("must be one of error, warn, info, debug, trace"),
        }
    }
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// A share between 0 and 1 (`KYC_CHAOS_ERROR_RATE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Share(f64);

impl Share {
    pub fn get(self) -> f64 {
        self.0
    }

    /// `value` when it is a number between 0 and 1.
    pub fn new(value: f64) -> Option<Self> {
        (0.0..=1.0).contains(&value).then_some(Share(value))
    }
}

impl FromStr for Share {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const PROBLEM: &str = "must be a number between 0 and 1";
        let value: f64 = s.trim().parse().map_err(|_| PROBLEM)?;
        if (0.0..=1.0).contains(&value) {
            Ok(Share(value))
        } else {
            Err(PROBLEM)
        }
    }
}

/// A duration written in whole milliseconds (`KYC_DRAIN_MS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Millis(pub Duration);

impl FromStr for Millis {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u64>()
            .map(|ms| Millis(Duration::from_millis(ms)))
            .map_err(|_| "must be a whole number of milliseconds, 0 or more")
    }
}

/// A name that travels in the `x-kyc-served-by` header and in every report (`KYC_SERVICE_VERSION`,
/// `KYC_INSTANCE`): 1-253 letters, digits, `.`, `-` or `_`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label(String);

impl FromStr for Label {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fits = !s.is_empty()
            && s.len() <= 253
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if fits {
            Ok(Label(s.to_owned()))
        } else {
            Err("must be 1-253 letters, digits, '.', '-' or '_' (e.g. v2, or the pod name)")
        }
    }
}

impl Label {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_or_say_what_they_must_be() {
        assert_eq!("pretty".parse(), Ok(LogFormat::Pretty));
        assert!("JSON".parse::<LogFormat>().is_err());
        assert_eq!("DEBUG".parse(), Ok(LogLevel::Debug));
        assert_eq!("0.25".parse::<Share>().map(Share::get), Ok(0.25));
        assert!("-0.1".parse::<Share>().is_err());
        assert_eq!("1500".parse(), Ok(Millis(Duration::from_millis(1500))));
        assert!("1.5".parse::<Millis>().is_err());
        assert_eq!(
            "pod-a_1.x"
                .parse::<Label>()
                .map(|l| l.to_string())
                .as_deref(),
            Ok("pod-a_1.x")
        );
        assert!("".parse::<Label>().is_err());
    }
}
