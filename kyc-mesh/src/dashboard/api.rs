//! The dashboard's HTTP routes: the page and its assets, `GET /api/state`, `GET /api/events`
//! (server-sent events, one [`View`] a second) and the writes. Every write becomes the request
//! (`ops::Op`) the control socket sends, answered by `up`'s loop: validation and refusals are
//! the same, the field at fault carried as a value.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post, put};
use axum::Router;
use tokio::sync::watch;

use crate::istio::RouteRef;
use crate::ops::{Calls, ChaosSetting, Op, Outcome};
use crate::snapshot::Snapshot;

use super::collector::Demand;
use super::input::{self, answer, ApiError, ChaosBody, LoadBody, ScenarioBody, WeightsBody};
use super::security::{self, Guard};
use super::traces;
use super::view::View;
use crate::traces::hop::MeshNames;

/// How long a write waits for `up`'s loop (a weight change waits for Envoy to apply it).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `POST /api/scenario` waits for the switch to be applied.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub(super) struct App {
    pub(crate) calls: Calls,
    pub(crate) view: watch::Receiver<Arc<View>>,
    pub(crate) demand: Arc<Demand>,
    /// The page with its token.
    pub(crate) page: Arc<str>,
    /// The configuration generation in force (the scenarios it offers).
    pub(crate) generations: watch::Receiver<Arc<Snapshot>>,
    /// `up`'s OTLP receiver's store, and why there is none.
    pub(crate) traces: Option<Arc<crate::traces::store::Store>>,
    pub(crate) traces_note: Arc<str>,
}

pub(super) const CSS: &str = include_str!("assets/style.css");
pub(super) const JS: &str = include_str!("assets/app.js");
const HTML: &str = include_str!("assets/index.html");

/// The page, its token in `<meta name="kyc-token">` and its mode (`live`, or `replay` for
/// `kyc-mesh replay`) in `<meta name="kyc-mode">`.
pub(super) fn page(token: &str, mode: &str) -> String {
    HTML.replace("{{TOKEN}}", token).replace("{{MODE}}", mode)
}

pub(super) fn router(app: App, guard: Guard) -> Router {
    Router::new()
        .route("/", get(index))
        .route(
            "/app.js",
            get(|| asset(JS, "text/javascript; charset=utf-8")),
        )
        .route("/style.css", get(|| asset(CSS, "text/css; charset=utf-8")))
        .route("/api/state", get(state))
        .route("/api/events", get(events))
        .route("/api/weights", put(weights))
        .route("/api/scenario", post(scenario))
        .route("/api/chaos/{service}", put(chaos_on).delete(chaos_off))
        .route("/api/canary", post(canary_start))
        .route("/api/canary/promote", post(canary_promote))
        .route("/api/canary/abort", post(canary_abort))
        .route("/api/load", put(load))
        .route("/api/traces", get(traces_list))
        .route("/api/traces/{trace_id}", get(trace_detail))
        .route("/api/canary/report.html", get(|s| canary_report(s, true)))
        .route("/api/canary/report.json", get(|s| canary_report(s, false)))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                error: "no such page or endpoint (see docs/dashboard.md)".into(),
                field: None,
            }
        })
        .layer(axum::middleware::from_fn_with_state(guard, security::guard))
        .layer(axum::middleware::map_response(headers))
        .with_state(app)
}

/// No framing by other sites, no type sniffing, only the page's own assets and API.
pub(super) async fn headers(mut r: HttpResponse) -> HttpResponse {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn index(State(app): State<App>) -> HttpResponse {
    app.demand.read();
    app.demand.wake.notify_one();
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        app.page.to_string(),
    )
        .into_response()
}

/// The latest view. When the collector was idle (nobody watching), wake it and wait (up to 3 s)
/// for a fresh view whose figures cover two readings, so a first load never shows zeros.
async fn state(State(mut app): State<App>) -> HttpResponse {
    let idle = app.demand.streams.load(Ordering::Relaxed) == 0;
    app.demand.read();
    let usable = |v: &View| {
        let fresh = super::events::now_ms().saturating_sub(v.updated_ms) <= 2_500;
        fresh && (v.window_seconds > 0.0 || !v.envoy_up)
    };
    if idle && !usable(&app.view.borrow_and_update()) {
        app.demand.wake.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            while app.view.changed().await.is_ok() {
                if usable(&app.view.borrow_and_update()) {
                    break;
                }
            }
        })
        .await;
    }
    let view = app.view.borrow().clone();
    match serde_json::to_vec(&*view) {
        Ok(body) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::CONTENT_TYPE, "application/json"),
            ],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The names hops are told apart by: the generation in force's workloads.
fn mesh_names(app: &App) -> MeshNames {
    MeshNames::from_topology(&app.generations.borrow().topology)
}

/// `GET /api/traces?errors&minMs&version&from&to&sort&limit&since&until`.
async fn traces_list(State(app): State<App>, uri: Uri) -> Result<HttpResponse, ApiError> {
    let source = app.traces.as_deref().map(|s| s as &dyn traces::Source);
    let note = if source.is_some() {
        ""
    } else {
        &app.traces_note
    };
    traces::list(source, &mesh_names(&app), uri.query(), note)
}

/// `GET /api/traces/{traceId}`: one trace's waterfall.
async fn trace_detail(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<HttpResponse, ApiError> {
    let source = app.traces.as_deref().map(|s| s as &dyn traces::Source);
    traces::detail(source, &mesh_names(&app), &id)
}

/// `GET /api/canary/report.{html,json}`: the report of the canary running or last run.
async fn canary_report(State(app): State<App>, html: bool) -> Result<HttpResponse, ApiError> {
    let view = serde_json::to_value(&**app.view.borrow()).unwrap_or_default();
    let names = mesh_names(&app);
    let links =
        |status: &crate::canary::model::CanaryStatus, since: u64| {
            let store = app.traces.as_ref()?;
            let hosts = [status.stable.as_str(), status.canary.as_str()];
            let now = super::events::now_ms();
            Some(store.with_traces(|all| {
                crate::traces::query::canary_links(all, &names, hosts, since, now)
            }))
        };
    let generation = app.generations.borrow().clone();
    let file = |vs: &str| {
        generation
            .objects
            .iter()
            .find(|o| o.origin.kind == "VirtualService" && o.origin.name == vs)
            .map(|o| o.origin.file.display().to_string())
    };
    let report = super::report::from_view(&view, links, file, super::events::now_ms());
    super::report::answer(report, html)
}

/// Counts an open event stream while it lives.
struct Watching(Arc<Demand>);
impl Drop for Watching {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Server-sent events: the current view at once, then each new one (about once a second).
async fn events(State(app): State<App>) -> impl IntoResponse {
    app.demand.streams.fetch_add(1, Ordering::Relaxed);
    app.demand.wake.notify_one();
    let watching = Watching(app.demand.clone());
    let mut rx = app.view.clone();
    rx.mark_changed();
    let stream = futures_util::stream::unfold((rx, watching), |(mut rx, w)| async move {
        rx.changed().await.ok()?;
        let view = rx.borrow_and_update().clone();
        let event = SseEvent::default()
            .event("state")
            .json_data(&*view)
            .unwrap_or_else(|_| SseEvent::default().comment("unserialisable view"));
        Some((Ok::<_, Infallible>(event), (rx, w)))
    });
    (
        [(header::CACHE_CONTROL, "no-store")],
        Sse::new(stream).keep_alive(KeepAlive::default()),
    )
}

/// Ask `up`'s loop (up to `timeout`) and wake the collector: the page shows the result.
async fn ask(app: &App, op: Op, timeout: Duration) -> Option<Outcome> {
    let outcome = app.calls.ask_within(op, timeout).await;
    app.demand.wake.notify_one();
    outcome
}

async fn call(app: &App, op: Op) -> HttpResponse {
    answer(ask(app, op, WRITE_TIMEOUT).await)
}

async fn weights(State(app): State<App>, body: Bytes) -> Result<HttpResponse, ApiError> {
    let b: WeightsBody = input::parse(&body)?;
    let weights = b.weights()?;
    let op = Op::SetWeights {
        route: RouteRef::new(b.virtual_service, b.route),
        weights,
    };
    Ok(call(&app, op).await)
}

/// `PUT /api/chaos/{service}[?instance=N|NAME]`: the CLI's `chaos`, on every instance or on one.
async fn chaos_on(
    State(app): State<App>,
    Path(service): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let instance = input::chaos_instance(&service, &uri)?;
    let b: ChaosBody = input::parse(&body)?;
    let setting = ChaosSetting::from_request(b.error_rate, b.delay_ms, false)?;
    Ok(chaos(&app, service, instance, setting).await)
}

/// `DELETE /api/chaos/{service}[?instance=N|NAME]`: chaos off.
async fn chaos_off(
    State(app): State<App>,
    Path(service): Path<String>,
    uri: Uri,
) -> Result<HttpResponse, ApiError> {
    let instance = input::chaos_instance(&service, &uri)?;
    Ok(chaos(&app, service, instance, None).await)
}

async fn chaos(
    app: &App,
    service: String,
    instance: Option<String>,
    setting: Option<ChaosSetting>,
) -> HttpResponse {
    let op = Op::Chaos {
        service,
        instance,
        setting,
    };
    call(app, op).await
}

async fn canary_start(State(app): State<App>, body: Bytes) -> Result<HttpResponse, ApiError> {
    let spec = input::canary_spec(&body)?;
    Ok(call(&app, Op::CanaryStart(spec)).await)
}

async fn canary_promote(State(app): State<App>) -> HttpResponse {
    call(&app, Op::CanaryPromote).await
}

async fn canary_abort(State(app): State<App>) -> HttpResponse {
    call(&app, Op::CanaryAbort).await
}

async fn load(State(app): State<App>, body: Bytes) -> Result<HttpResponse, ApiError> {
    let b: LoadBody = input::parse(&body)?;
    Ok(call(&app, Op::Load { rps: b.rps }).await)
}

/// `POST /api/scenario`: `kyc-mesh use NAME` as a request into `up`'s loop, which switches
/// (the scenario must translate) and answers once every proxy runs it.
async fn scenario(State(app): State<App>, body: Bytes) -> Result<HttpResponse, ApiError> {
    let b: ScenarioBody = input::parse(&body)?;
    let offered = app.generations.borrow().scenarios().to_vec();
    let name = b.name(&offered)?;
    let shown = name
        .clone()
        .unwrap_or_else(|| "none (networking/ only)".to_string());
    let outcome = ask(&app, Op::Use { scenario: name }, SCENARIO_TIMEOUT).await;
    Ok(input::scenario_answer(outcome, &shown, SCENARIO_TIMEOUT))
}
