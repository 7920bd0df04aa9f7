//! The built-in load generator (`load` request, `canary --load RPS`), like Flagger's load
//! tester: POSTs a fictional demo applicant to `/kyc/v1/customer` through the gateway at a
//! steady pace, so the canary route gets traffic during the analysis. Failures are counted, and
//! those whose answer names an injected failure (chaos) separately. When the configuration in
//! force verifies end-user tokens (the `jwt-auth` scenario), each request carries the token its
//! [`Bearer`] gives (`up` passes one that mints a short-lived demo token).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// A fictional applicant (the README's example); no real person's data.
const APPLICANT: &str = r#"{"firstName":"Alice","lastName":"Martin","dateOfBirth":"1990-04-12","gender":"female","maritalStatus":"single","citizenship":"FR","currentResidenceCountry":"FRA","passportNumber":"FR1234567","passportExpiryDate":"2035-09-30","passportCountryOfIssue":"FR"}"#;
/// Requests in flight at most; a tick finding them all busy is skipped (and not counted).
const MAX_IN_FLIGHT: usize = 64;
/// The highest rate accepted.
pub(crate) const MAX_RPS: u32 = 1000;

/// The `Authorization: Bearer` token for the next request, if the mesh asks for one (asked
/// per request: cheap, the caller caches; a switch of scenario takes effect at once).
pub(crate) type Bearer = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The load generator's counters (`load` request, `canary --load`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LoadStatus {
    /// Requests per second asked for; 0 = stopped.
    pub rps: u32,
    pub sent: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Not answered 2xx (or not answered at all), `injected` included.
    pub failed: u64,
    /// Failures whose answer names an injected failure (runtime or env chaos): expected
    /// while chaos is on; every other failure is the mesh's.
    pub injected: u64,
}

/// Why the generator cannot start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("rps: {0} is more than {MAX_RPS}")]
    TooFast(u32),
    #[error("{0}")]
    Client(#[from] reqwest::Error),
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    injected: AtomicU64,
}

/// A generator; stopped when dropped. A stopped one keeps its counters (rps 0).
pub(crate) struct LoadGen {
    rps: u32,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Drop for LoadGen {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn snapshot(rps: u32, c: &Counters) -> LoadStatus {
    LoadStatus {
        rps,
        sent: c.sent.load(Ordering::Relaxed),
        ok: c.ok.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        injected: c.injected.load(Ordering::Relaxed),
    }
}

impl LoadGen {
    /// Start sending `rps` requests a second (at most [`MAX_RPS`]) to the gateway on
    /// `gateway_port`; its counters go to `report` once a second.
    pub(crate) fn start(
        gateway_port: u16,
        rps: u32,
        bearer: Bearer,
        report: impl Fn(LoadStatus) + Send + 'static,
    ) -> Result<Self, LoadError> {
        if rps > MAX_RPS {
            return Err(LoadError::TooFast(rps));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()?;
        let counters = Arc::new(Counters::default());
        let url = format!("http://127.0.0.1:{gateway_port}/kyc/v1/customer");
        let c = counters.clone();
        let task = tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rps)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut every_second = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = every_second.tick() => {
                        report(snapshot(rps, &c));
                        continue;
                    }
                }
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    continue;
                };
                let (client, url, c) = (client.clone(), url.clone(), c.clone());
                let token = bearer();
                tokio::spawn(async move {
                    c.sent.fetch_add(1, Ordering::Relaxed);
                    let mut request = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(APPLICANT);
                    if let Some(t) = token {
                        request = request.bearer_auth(t);
                    }
                    let answer = request.send().await;
                    match answer {
                        Ok(r) if r.status().is_success() => {
                            c.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            c.failed.fetch_add(1, Ordering::Relaxed);
                            let body = r.text().await.unwrap_or_default();
                            if body.contains("injected failure") {
                                c.injected.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            c.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    drop(permit);
                });
            }
        });
        Ok(LoadGen {
            rps,
            counters,
            task,
        })
    }

    pub(crate) fn status(&self) -> LoadStatus {
        snapshot(self.rps, &self.counters)
    }

    /// Stop sending; the counters stay readable.
    pub(crate) fn stop(&mut self) {
        self.task.abort();
        self.rps = 0;
    }
}
