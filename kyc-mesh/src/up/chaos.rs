//! `chaos` requests: forward a service's runtime chaos to every running instance of it, or
//! to one (`PUT`/`DELETE /admin/chaos`, mounted because the mesh starts services with
//! `KYC_CHAOS_API=true`), and remember it per instance so that a restarted or rolled-out
//! process gets it again before it serves.

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
    /// The `chaos` request: on every instance of `service`, or only on `instance` (a pod
    /// name). Each instance remembers its own setting for its next process; a setting for the
    /// whole service replaces the instances' own.
    pub(super) async fn chaos(
        &mut self,
        service: &str,
        instance: Option<&str>,
        setting: Option<ChaosSetting>,
        bus: &tokio::sync::broadcast::Sender<Event>,
    ) -> Response {
        let mut targets = match self.instances_of(service) {
            Ok(t) => t,
            Err(refusal) => return refusal,
        };
        if let Some(pod) = instance {
            let known: Vec<&str> = targets
                .iter()
                .map(|&i| self.slots[i].pod.name.as_str())
                .collect();
            match targets.iter().find(|&&i| self.slots[i].pod.name == pod) {
                Some(&i) => targets = vec![i],
                None => {
                    return Response::refused(
                        Refusal::UnknownService,
                        format!(
                            "{service} has no instance {pod:?} (its instances: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    )
                }
            }
        }
        let ports: Vec<u16> = targets
            .iter()
            .filter_map(|&i| self.slots[i].instance.as_ref().map(|p| p.port))
            .collect();
        let mut errors = Vec::new();
        for port in &ports {
            if let Err(e) = push(*port, setting).await {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            return Response::failed(errors.join("; "));
        }
        for &i in &targets {
            self.slots[i].chaos = setting;
        }
        if instance.is_none() {
            match setting {
                Some(s) => self.chaos.insert(service.to_string(), s),
                None => self.chaos.remove(service),
            };
        }
        let _ = bus.send(Event::ChaosChanged {
            service: service.to_string(),
            setting,
            instance: instance.map(str::to_string),
        });
        let what = match setting {
            Some(s) => format!("error rate {}, delay {} ms", s.error_rate, s.delay_ms),
            None => "off".into(),
        };
        let note = if ports.len() < targets.len() {
            " (not running now: it gets it when it restarts)"
        } else {
            ""
        };
        let on = instance.unwrap_or(service);
        let message = format!("chaos on {on}: {what}{note}");
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
