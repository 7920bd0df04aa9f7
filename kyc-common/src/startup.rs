//! Everything that makes an axum router a KYC service: identity (`servedBy`), probes, Swagger UI,
//! JSON errors for every failure, request logging, the chaos knobs, and graceful shutdown.
//!
//! Shutdown follows Kubernetes' order of events. On SIGTERM the pod is removed from the Service's
//! endpoints *while* the process is told to stop, and both travel the cluster at their own pace. So the
//! service first answers `/readyz` with 503 and keeps serving for `KYC_DRAIN_MS`, until every proxy
//! has stopped sending it new requests; only then does it close the listener, finish the requests in
//! flight and exit 0. The shutdown trigger is passed in as a future (as in mini-redis), so tests stop a
//! server without signals.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRef, FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::configuration::CommonSettings;
use crate::domain::ServedBy;
use crate::error::{ApiError, ErrorKind, ErrorNamespace};

/// Requests bodies larger than this are refused with 413.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;
pub const SERVED_BY_HEADER: &str = "x-kyc-served-by";
pub const SCORED_BY_HEADER: &str = "x-kyc-scored-by";
pub const OPENAPI_PATH: &str = "/api-docs/openapi.json";

/// The podinfo-style fault knobs, applied to business routes only (never to probes, docs, `/version`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Chaos {
    pub error_rate: f64,
    pub delay: Duration,
}

/// What every handler and middleware of a service needs to know about the service itself.
#[derive(Debug)]
pub struct ServiceContext {
    pub identity: ServedBy,
    /// `identity` as `service/version/instance`, built once: it goes on every response and log line.
    pub served_by: String,
    pub build_version: &'static str,
    pub errors: ErrorNamespace,
    pub chaos: Chaos,
    draining: AtomicBool,
}

impl ServiceContext {
    pub fn new(
        service: &str,
        build_version: &'static str,
        errors: ErrorNamespace,
        settings: &CommonSettings,
    ) -> Arc<Self> {
        let instance = settings.instance.clone().unwrap_or_else(|| {
            hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "unknown".to_owned())
        });
        let identity = ServedBy {
            service: service.to_owned(),
            version: settings.service_version.clone(),
            instance,
        };
        Arc::new(ServiceContext {
            served_by: identity.header_value(),
            identity,
            build_version,
            errors,
            chaos: Chaos {
                error_rate: settings.chaos_error_rate,
                delay: settings.chaos_delay(),
            },
            draining: AtomicBool::new(false),
        })
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ApiError {
        self.errors.error(kind, message)
    }
}

/// A JSON body extractor whose every rejection is the service's JSON error: 415 without a JSON
/// content type, 400 for malformed JSON, 422 for a wrong type, 413 over [`BODY_LIMIT_BYTES`].
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    Arc<ServiceContext>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Arc::<ServiceContext>::from_ref(state);
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&ctx, rejection)),
        }
    }
}

/// A query-string extractor whose rejection is the service's JSON 400.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    Arc<ServiceContext>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Arc::<ServiceContext>::from_ref(state);
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| ctx.error(ErrorKind::BadRequest, rejection.body_text()))
    }
}

fn json_rejection(ctx: &ServiceContext, rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ctx.error(
            ErrorKind::UnsupportedMediaType,
            "expected a request with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => ctx.error(ErrorKind::BadRequest, e.body_text()),
        JsonRejection::JsonDataError(e) => ctx.error(ErrorKind::Unprocessable, e.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ctx.error(
            ErrorKind::PayloadTooLarge,
            format!(
                "request body is larger than {} KiB",
                BODY_LIMIT_BYTES / 1024
            ),
        ),
        other => ctx.error(ErrorKind::BadRequest, other.body_text()),
    }
}

/// `/healthz`: the process is alive.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `draining`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `/version`: what is running.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    #[schema(example = "kyc-credit-check-basic")]
    pub service: String,
    /// The deployment version label (`KYC_SERVICE_VERSION`).
    #[schema(example = "v1")]
    pub version: String,
    /// The crate version of the binary.
    #[schema(example = "0.1.0")]
    pub build: String,
    #[schema(example = "kyc-credit-check-basic-7d9c-x2k4p")]
    pub instance: String,
}

/// Liveness probe: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process is alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness probe: 200, or 503 once shutdown has begun so that the mesh stops sending traffic.
/// Depends on nothing outside the process (the aggregator is ready even when the gateway is down).
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, description = "Ready for traffic", body = Health),
    (status = 503, description = "Draining after SIGTERM", body = Health)))]
async fn readyz(State(ctx): State<Arc<ServiceContext>>) -> Response {
    if ctx.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "draining" }),
        )
            .into_response()
    } else {
        Json(Health { status: "ready" }).into_response()
    }
}

/// Service name, deployment version, build and instance.
#[utoipa::path(get, path = "/version", tag = "probes",
    responses((status = 200, description = "What is running", body = VersionInfo)))]
async fn version(State(ctx): State<Arc<ServiceContext>>) -> Json<VersionInfo> {
    Json(VersionInfo {
        service: ctx.identity.service.clone(),
        version: ctx.identity.version.clone(),
        build: ctx.build_version.to_owned(),
        instance: ctx.identity.instance.clone(),
    })
}

fn probe_routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<ServiceContext>: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(version))
}

/// Middleware for business routes: `KYC_CHAOS_DELAY_MS` latency, then a 503 for a
/// `KYC_CHAOS_ERROR_RATE` share of requests.
pub async fn chaos(State(ctx): State<Arc<ServiceContext>>, req: Request, next: Next) -> Response {
    let Chaos { error_rate, delay } = ctx.chaos;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if error_rate > 0.0 && rand::random::<f64>() < error_rate {
        return ctx
            .error(
                ErrorKind::Unavailable,
                "injected failure (KYC_CHAOS_ERROR_RATE is set on this instance)",
            )
            .into_response();
    }
    next.run(req).await
}

/// One log line per request: method, route, status, latency, request id, who served (and scored) it.
/// Route is the matched pattern, never the raw URI; bodies are never logged. Probes log at debug.
async fn log_request(State(ctx): State<Arc<ServiceContext>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let request_id = req
        .headers()
        .get(crate::propagation::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let response = next.run(req).await;
    let latency_ms = started.elapsed().as_micros() as f64 / 1000.0;
    let status = response.status().as_u16();
    let scored_by = response
        .headers()
        .get(SCORED_BY_HEADER)
        .and_then(|v| v.to_str().ok());
    let served_by = &ctx.served_by;
    if matches!(route.as_str(), "/healthz" | "/readyz") {
        tracing::debug!(%method, %route, status, latency_ms, %request_id, %served_by, "request");
    } else if let Some(scored_by) = scored_by {
        tracing::info!(%method, %route, status, latency_ms, %request_id, %served_by, scored_by, "request");
    } else {
        tracing::info!(%method, %route, status, latency_ms, %request_id, %served_by, "request");
    }
    response
}

async fn not_found(State(ctx): State<Arc<ServiceContext>>) -> ApiError {
    ctx.error(
        ErrorKind::NotFound,
        "no such route; see /swagger-ui/ for the API",
    )
}

async fn method_not_allowed(State(ctx): State<Arc<ServiceContext>>) -> ApiError {
    ctx.error(
        ErrorKind::MethodNotAllowed,
        "method not allowed on this route; see /swagger-ui/ for the API",
    )
}

/// Turns a service's documented business routes into the full application: the chaos knobs on the
/// business routes only, then probes, `/` → Swagger UI, the OpenAPI document (`doc` plus every route's
/// operation), JSON 404/405, the body limit, request ids, `x-kyc-served-by` and request logs.
pub fn finish<S>(doc: utoipa::openapi::OpenApi, business: OpenApiRouter<S>, state: S) -> Router
where
    S: Clone + Send + Sync + 'static,
    Arc<ServiceContext>: FromRef<S>,
{
    let ctx = Arc::<ServiceContext>::from_ref(&state);
    let api = OpenApiRouter::with_openapi(doc)
        .merge(business)
        .layer(middleware::from_fn_with_state(ctx.clone(), chaos));
    let (router, openapi) = api.merge(probe_routes()).split_for_parts();
    let served_by = HeaderValue::from_str(&ctx.served_by)
        .unwrap_or_else(|_| HeaderValue::from_static("invalid-identity"));
    let x_request_id = HeaderName::from_static(crate::propagation::REQUEST_ID);
    router
        .merge(SwaggerUi::new("/swagger-ui").url(OPENAPI_PATH, openapi))
        .route("/", get(|| async { Redirect::to("/swagger-ui/") }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(SERVED_BY_HEADER),
            served_by,
        ))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(middleware::from_fn_with_state(ctx, log_request))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

/// A bound listener and the application it will serve.
pub struct Server {
    listener: TcpListener,
    app: Router,
    ctx: Arc<ServiceContext>,
    drain: Duration,
}

impl Server {
    /// Binds `KYC_HOST:KYC_PORT` (port 0 picks a free port: see [`Server::local_addr`]).
    pub async fn bind(
        settings: &CommonSettings,
        app: Router,
        ctx: Arc<ServiceContext>,
    ) -> Result<Self, String> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", settings.host, settings.port))?;
        Ok(Server {
            listener,
            app,
            ctx,
            drain: settings.drain(),
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
        axum::serve(listener, app)
            .with_graceful_shutdown(drained)
            .await?;
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

/// The body of every service's `main`: load settings (exit 2 with the message on a bad value), start
/// logging, build, bind, serve until SIGINT/SIGTERM (exit 0), or exit 1 when start-up fails.
pub async fn run_main<T, B, Fut>(
    crate_target: &str,
    load: impl FnOnce() -> Result<T, crate::configuration::ConfigurationError>,
    common: impl Fn(&T) -> &CommonSettings,
    build: B,
) -> std::process::ExitCode
where
    B: FnOnce(T) -> Fut,
    Fut: Future<Output = Result<Server, String>>,
{
    let started = Instant::now();
    let settings = match load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return std::process::ExitCode::from(2);
        }
    };
    let c = common(&settings);
    crate::telemetry::init(&c.log_format, &c.log_level, crate_target);
    let server = match build(settings).await {
        Ok(server) => server,
        Err(err) => {
            tracing::error!(error = %err, "start-up failed");
            eprintln!("start-up failed: {err}");
            return std::process::ExitCode::from(1);
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
    match server.run_until_stopped(shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            std::process::ExitCode::from(1)
        }
    }
}
