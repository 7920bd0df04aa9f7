//! Istio/protobuf durations ("5s", "250ms", "1.5s", "1m", "2h", "10us") to Envoy JSON.

use std::time::Duration;

/// Parse a duration as written in Istio YAML.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration {text:?} needs a unit (ms, s, m, h)"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("duration {text:?} is not a number followed by a unit"))?;
    let secs = match unit {
        "h" => value * 3600.0,
        "m" => value * 60.0,
        "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        _ => return Err(format!("duration {text:?}: unknown unit {unit:?}")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Envoy's JSON form of google.protobuf.Duration.
pub fn envoy(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let s = format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
        format!("{}s", s.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_istio_durations() {
        assert_eq!(envoy(parse("5s").unwrap()), "5s");
        assert_eq!(envoy(parse("250ms").unwrap()), "0.25s");
        assert_eq!(envoy(parse("1.5s").unwrap()), "1.5s");
        assert_eq!(envoy(parse("1m").unwrap()), "60s");
        assert!(parse("5").is_err());
        assert!(parse("fast").is_err());
        assert!(parse("5d").is_err());
    }
}
