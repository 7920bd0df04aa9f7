//! `chaos` requests: forward a service's runtime chaos to every running instance of it
//! (`PUT`/`DELETE /admin/chaos`, mounted because the mesh starts services with
//! `KYC_CHAOS_API=true`), and remember it so that a restarted or rolled-out instance gets it
//! again before it serves.

use std::time::Duration;

use crate::control::event::Event;
use crate::control::protocol::{Refusal, Response};
use crate::control::state::ChaosSetting;

use super::fleet::Fleet;

/// The longest runtime delay a service accepts (`kyc_common::http::chaos_admin::MAX_DELAY_MS`).
const MAX_DELAY_MS: u64 = 60_000;

/// Read a `chaos` request's values: `None` = off. Err names the field.
pub fn setting(
    error_rate: Option<f64>,
    delay_ms: Option<u64>,
    off: bool,
) -> Result<Option<ChaosSetting>, String> {
    if off {
        if error_rate.is_some() || delay_ms.is_some() {
            return Err("off: cannot be combined with errorRate or delayMs".into());
        }
        return Ok(None);
    }
    if error_rate.is_none() && delay_ms.is_none() {
        return Err("errorRate: give errorRate and/or delayMs, or off: true".into());
    }
    let error_rate = error_rate.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&error_rate) {
        return Err(format!("errorRate: {error_rate} is not between 0 and 1"));
    }
    let delay_ms = delay_ms.unwrap_or(0);
    if delay_ms > MAX_DELAY_MS {
        return Err(format!("delayMs: {delay_ms} is more than {MAX_DELAY_MS}"));
    }
    let s = ChaosSetting {
        error_rate,
        delay_ms,
    };
    Ok((!s.is_off()).then_some(s))
}

/// Send `setting` to the instance on `port`; Err says what went wrong.
pub async fn push(port: u16, setting: Option<ChaosSetting>) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://127.0.0.1:{port}/admin/chaos");
    let request = match setting {
        Some(s) => client.put(&url).json(&s),
        None => client.delete(&url),
    };
    match request.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if r.status().as_u16() == 404 => Err(format!(
            "{url} answered 404: the service runs without KYC_CHAOS_API=true"
        )),
        Ok(r) => Err(format!(
            "{url} answered {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        )),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

impl Fleet {
    /// The `chaos` request.
    pub(super) async fn chaos(
        &mut self,
        service: &str,
        setting: Option<ChaosSetting>,
        bus: &tokio::sync::broadcast::Sender<Event>,
    ) -> Response {
        let ports: Vec<u16> = match self.slots.iter().find(|s| s.workload.binary == service) {
            Some(slot) => slot.instance.iter().map(|i| i.port).collect(),
            None => {
                let known: Vec<&str> = self.slots.iter().map(|s| s.workload.binary).collect();
                return if known.is_empty() {
                    Response::refused(Refusal::Unavailable, "this kyc-mesh up runs with --external-services: it cannot reach the services' chaos endpoint")
                } else {
                    Response::refused(
                        Refusal::UnknownService,
                        format!("unknown service {service:?} (one of {})", known.join(", ")),
                    )
                };
            }
        };
        let mut errors = Vec::new();
        for port in &ports {
            if let Err(e) = push(*port, setting).await {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Response::failed(errors.join("; "));
        }
        match setting {
            Some(s) => self.chaos.insert(service.to_string(), s),
            None => self.chaos.remove(service),
        };
        let _ = bus.send(Event::ChaosChanged {
            service: service.to_string(),
            setting,
        });
        let what = match setting {
            Some(s) => format!("error rate {}, delay {} ms", s.error_rate, s.delay_ms),
            None => "off".into(),
        };
        let note = if ports.is_empty() {
            " (not running now: it gets it when it restarts)"
        } else {
            ""
        };
        let message = format!("chaos on {service}: {what}{note}");
        println!("kyc-mesh: {message}");
        Response::done(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_naming_the_field() {
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
            assert!(e.starts_with(field), "{e}");
        }
    }
}
