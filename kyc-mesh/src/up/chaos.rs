//! The `chaos` request: forward a service's runtime chaos to every running instance of it, or
//! to one (through `probe::push_chaos`), and remember it per instance so that a restarted or
//! rolled-out process gets it again before it serves.

use crate::ops::{ChaosSetting, MeshEvent, Outcome, Refusal, Refused};

use super::fleet::Fleet;
use super::probe::push_chaos;

/// The `chaos` request: on every instance of `service`, or only on `instance` (a pod name).
/// Each instance remembers its own setting for its next process; a setting for the whole
/// service replaces the instances' own.
pub(super) async fn set(
    fleet: &mut Fleet,
    service: &str,
    instance: Option<&str>,
    setting: Option<ChaosSetting>,
) -> Outcome {
    let mut targets = match fleet.instances_of(service) {
        Ok(t) => t,
        Err(refused) => return refused.into(),
    };
    if let Some(pod) = instance {
        let known: Vec<&str> = targets
            .iter()
            .map(|&i| fleet.slots[i].pod.name.as_str())
            .collect();
        match targets.iter().find(|&&i| fleet.slots[i].pod.name == pod) {
            Some(&i) => targets = vec![i],
            None => {
                // The instance is at fault, not the service: the dashboard names the field.
                let mut refused = Refused::new(
                    Refusal::UnknownService,
                    format!(
                        "{service} has no instance {pod:?} (its instances: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
                refused.field = Some("instance".into());
                return refused.into();
            }
        }
    }
    let ports: Vec<u16> = targets
        .iter()
        .filter_map(|&i| fleet.slots[i].instance.as_ref().map(|p| p.port))
        .collect();
    let mut errors = Vec::new();
    for port in &ports {
        if let Err(e) = push_chaos(*port, setting).await {
            errors.push(e.to_string());
        }
    }
    if !errors.is_empty() {
        return Outcome::failed(errors.join("; "));
    }
    for &i in &targets {
        fleet.slots[i].chaos = setting;
    }
    if instance.is_none() {
        match setting {
            Some(s) => fleet.chaos.insert(service.to_string(), s),
            None => fleet.chaos.remove(service),
        };
    }
    let _ = fleet.bus.send(MeshEvent::ChaosChanged {
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
    Outcome::done(message)
}
