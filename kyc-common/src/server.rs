//! Binding, serving and shutting down.
//!
//! Shutdown follows Kubernetes' order of events. On SIGTERM the pod is removed from the Service's
//! endpoints *while* the process is told to stop, and both travel the cluster at their own pace. So the
//! service first answers `/readyz` with 503 and keeps serving for `KYC_DRAIN_MS`, until every proxy
//! has stopped sending it new requests; only then does it close the listener, finish the requests in
//! flight and exit 0. The shutdown trigger is passed in as a future (as in mini-redis), so tests stop a
//! server without signals.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use axum::extract::FromRef;

use crate::configuration::{CommonSettings, ServerLimits};
use crate::http::ServiceContext;

/// A bound listener and the application it will serve.
pub struct Server {
    listener: TcpListener,
    app: Router,
    ctx: Arc<ServiceContext>,
    drain: Duration,
    limits: ServerLimits,
}

impl Server {
    /// Builds the application for `state` with `app` and binds `KYC_HOST:KYC_PORT` (port 0 picks a
    /// free port: see [`Server::local_addr`]).
    pub async fn bind<S>(
        settings: &CommonSettings,
        state: S,
        app: impl FnOnce(S) -> Router,
    ) -> Result<Self, String>
    where
        Arc<ServiceContext>: FromRef<S>,
    {
        let ctx = Arc::<ServiceContext>::from_ref(&state);
        let app = app(state);
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", settings.host, settings.port))?;
        Ok(Server {
            listener,
            app,
            ctx,
            drain: settings.drain,
            limits: settings.limits.clone(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains: readiness 503 for the drain time while still
    /// serving, then stop accepting, finish in-flight requests, return.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Server {
            listener,
            app,
            ctx,
            drain,
            limits,
        } = self;
        let drained = async move {
            shutdown.await;
            ctx.start_draining();
            tracing::info!(
                drain_ms = drain.as_millis() as u64,
                "shutdown requested: readiness is now 503; still serving while the mesh drains"
            );
            tokio::time::sleep(drain).await;
            tracing::info!("drain over: closing the listener and finishing requests in flight");
        };
        crate::connections::serve(listener, app, &limits, drained).await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (Kubernetes).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
