//! The body of every service's `main`, and its exit codes: 2 for a bad setting (the message names the
//! variable) or argument, 1 when start-up or serving fails, 0 after SIGINT/SIGTERM and the drain.
//! `<service> healthcheck [URL...]` probes instead of serving (see [`crate::healthcheck`]).

use std::future::Future;
use std::process::ExitCode;
use std::time::Instant;

use crate::configuration::ServiceSettings;
use crate::healthcheck::{self, Invocation};
use crate::server::{shutdown_signal, Server};

/// Loads the settings `T`, starts logging for `crate_target` (the service crate, `kyc_aggregator_mgt`),
/// builds and binds, logs `listening` with the address, serves until a signal.
pub async fn run_main<T, B, Fut>(crate_target: &str, build: B) -> ExitCode
where
    T: ServiceSettings,
    B: FnOnce(T) -> Fut,
    Fut: Future<Output = Result<Server, String>>,
{
    let started = Instant::now();
    let invocation = match healthcheck::invocation(std::env::args().skip(1)) {
        Ok(i) => i,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let settings = match T::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    if let Invocation::Healthcheck(urls) = invocation {
        let targets = match healthcheck::targets(settings.common(), &urls) {
            Ok(t) => t,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::from(2);
            }
        };
        return match healthcheck::probe(&targets).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{err}");
                ExitCode::from(1)
            }
        };
    }
    let c = settings.common();
    crate::telemetry::init(c.log_format, c.log_level, crate_target);
    let server = match build(settings).await {
        Ok(server) => server,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            eprintln!("start-up failed: {err}");
            return ExitCode::from(1);
        }
    };
    let addr = server
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(
        %addr,
        startup_ms = started.elapsed().as_secs_f64() * 1000.0,
        "listening"
    );
    let served = server.run_until_stopped(shutdown_signal()).await;
    crate::otel::shutdown().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::from(1)
        }
    }
}
