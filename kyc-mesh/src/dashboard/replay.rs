//! `kyc-mesh replay DIR`: the dashboard of a recorded session (`up --record DIR`), read-only,
//! on 127.0.0.1 — the same page in replay mode (a time slider, pause and speed): the view at
//! any recorded moment (`GET /api/state?at=MS`) with the events and canary checks up to then,
//! the recorded traces (`GET /api/traces?until=MS`, `/api/traces/{id}`) and the canary's
//! report at that moment. Every write is refused (405, JSON naming the recording); reads need
//! the dashboard's own `Host`, as live.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::canary::model::Check;
use crate::traces::hop::MeshNames;
use crate::traces::model::TraceId;
use crate::traces::query::{self, Filter, Listed};
use crate::traces::store::{StoreStatus, Trace};

use super::events::EventView;
use super::input::ApiError;
use super::recording::{self, Line, Meta, RecordedTrace, RecordingError};
use super::security::Guard;
use super::traces::{self as traces_api, Source};

/// A recording, read whole.
pub(super) struct Recording {
    pub(super) dir: PathBuf,
    pub(super) meta: Meta,
    /// (at, view without events and checks), in time order.
    states: Vec<(u64, serde_json::Value)>,
    /// Oldest first.
    events: Vec<EventView>,
    /// (at, the run's checks then), in time order.
    checks: Vec<(u64, Vec<Check>)>,
    traces: Vec<Trace>,
    pub(super) end_ms: u64,
    /// Lines that could not be read (a torn last line after a crash).
    pub(super) skipped: usize,
}

impl Recording {
    pub(super) fn read(dir: &Path) -> Result<Recording, RecordingError> {
        let meta = recording::read_meta(dir)?;
        let (lines, bad_session) = recording::read_lines::<Line>(&dir.join(recording::SESSION))?;
        let (recorded, bad_traces) =
            recording::read_lines::<RecordedTrace>(&dir.join(recording::TRACES))?;
        let mut r = Recording {
            dir: dir.to_path_buf(),
            end_ms: meta.started_ms,
            meta,
            states: Vec::new(),
            events: Vec::new(),
            checks: Vec::new(),
            traces: Vec::new(),
            skipped: bad_session + bad_traces,
        };
        for line in lines {
            let at = match line {
                Line::State { at_ms, view } => {
                    r.states.push((at_ms, view));
                    at_ms
                }
                Line::Event { event } => {
                    let at = event.at_ms;
                    r.events.push(event);
                    at
                }
                Line::Checks { at_ms, checks } => {
                    r.checks.push((at_ms, checks));
                    at_ms
                }
                Line::End { at_ms } => at_ms,
            };
            r.end_ms = r.end_ms.max(at);
        }
        r.states.sort_by_key(|(at, _)| *at);
        r.events.sort_by_key(|e| e.at_ms);
        r.checks.sort_by_key(|(at, _)| *at);
        for (i, t) in recorded.into_iter().enumerate() {
            let Some(first) = t.spans.first() else {
                continue;
            };
            r.traces.push(Trace {
                id: first.trace_id,
                spans: t.spans,
                logs: t.logs,
                bytes: 0,
                seq: i as u64,
                updated_ms: 0,
            });
        }
        Ok(r)
    }

    /// The view at `at` (the last state recorded at or before it; the first before that),
    /// with the events up to then (newest first, as live) and the run's checks then.
    pub(super) fn state_at(&self, at: u64) -> Option<serde_json::Value> {
        let i = self.states.partition_point(|(t, _)| *t <= at);
        let (_, view) = self.states.get(i.saturating_sub(1))?;
        let mut view = view.clone();
        let events: Vec<&EventView> = self
            .events
            .iter()
            .rev()
            .filter(|e| e.at_ms <= at)
            .take(super::events::KEPT)
            .collect();
        let j = self.checks.partition_point(|(t, _)| *t <= at);
        let checks = j
            .checked_sub(1)
            .and_then(|k| self.checks.get(k))
            .map_or(&[][..], |(_, c)| c.as_slice());
        view["events"] = serde_json::to_value(events).unwrap_or_default();
        view["checks"] = serde_json::to_value(checks).unwrap_or_default();
        Some(view)
    }
}

impl Source for Recording {
    fn list(&self, names: &MeshNames, filter: &Filter) -> Listed {
        query::list(self.traces.iter(), names, filter)
    }
    fn get(&self, id: &TraceId) -> Option<Trace> {
        self.traces.iter().find(|t| t.id == *id).cloned()
    }
    fn status(&self) -> StoreStatus {
        StoreStatus {
            traces: self.traces.len(),
            max_traces: self.traces.len(),
            ..StoreStatus::default()
        }
    }
}

/// What a replay's trace list says of its traces.
const SAMPLED: &str = "a recording keeps a sample: each 10 s, its failing traces and its slowest, and every trace a canary's report links to";

#[derive(Clone)]
struct App {
    recording: Arc<Recording>,
    names: Arc<MeshNames>,
    page: Arc<str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplayInfo<'a> {
    dir: String,
    start_ms: u64,
    end_ms: u64,
    states: usize,
    events: usize,
    traces: usize,
    skipped_lines: usize,
    meta: &'a Meta,
}

/// `?at=MS` of a URL (the end of the recording without one).
fn at(r: &Recording, uri: &Uri) -> Result<u64, ApiError> {
    let Some(v) = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("at="))
    else {
        return Ok(r.end_ms);
    };
    v.parse()
        .map_err(|_| ApiError::bad("at", format!("{v:?} is not Unix milliseconds")))
}

fn router(app: App, guard: Guard) -> Router {
    Router::new()
        .route(
            "/",
            get(|State(app): State<App>| async move {
                (
                    [
                        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    app.page.to_string(),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    super::api::JS,
                )
            }),
        )
        .route(
            "/style.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    super::api::CSS,
                )
            }),
        )
        .route("/api/replay", get(info))
        .route("/api/state", get(state))
        .route("/api/traces", get(traces_list))
        .route("/api/traces/{trace_id}", get(trace_detail))
        .route("/api/canary/report.html", get(|s, u| report(s, u, true)))
        .route("/api/canary/report.json", get(|s, u| report(s, u, false)))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                error: "no such page or endpoint in a replay (see docs/dashboard.md)".into(),
                field: None,
            }
        })
        .layer(axum::middleware::from_fn_with_state(guard, read_only))
        .layer(axum::middleware::map_response(super::api::headers))
        .with_state(app)
}

/// The dashboard's `Host` check; then anything but a read is 405.
async fn read_only(State(guard): State<Guard>, request: Request, next: Next) -> HttpResponse {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if let Err(f) = guard.check(&Method::GET, host, None, None) {
        return f.into_response();
    }
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let body = serde_json::json!({
        "error": format!("{} {}: this is a read-only replay of a recording; writes are refused", request.method(), request.uri().path()),
    });
    let mut r = (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

async fn info(State(app): State<App>) -> HttpResponse {
    let r = &app.recording;
    Json(ReplayInfo {
        dir: r.dir.display().to_string(),
        start_ms: r.meta.started_ms,
        end_ms: r.end_ms,
        states: r.states.len(),
        events: r.events.len(),
        traces: r.traces.len(),
        skipped_lines: r.skipped,
        meta: &r.meta,
    })
    .into_response()
}

async fn state(State(app): State<App>, uri: Uri) -> Result<HttpResponse, ApiError> {
    let at = at(&app.recording, &uri)?;
    match app.recording.state_at(at) {
        Some(v) => Ok(([(header::CACHE_CONTROL, "no-store")], Json(v)).into_response()),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            error: "the recording holds no state yet (recorded for less than a second?)".into(),
            field: None,
        }),
    }
}

async fn traces_list(State(app): State<App>, uri: Uri) -> Result<HttpResponse, ApiError> {
    let source: &dyn Source = &*app.recording;
    traces_api::list(Some(source), &app.names, uri.query(), SAMPLED)
}

async fn trace_detail(
    State(app): State<App>,
    UrlPath(id): UrlPath<String>,
) -> Result<HttpResponse, ApiError> {
    let source: &dyn Source = &*app.recording;
    traces_api::detail(Some(source), &app.names, &id)
}

async fn report(State(app): State<App>, uri: Uri, html: bool) -> Result<HttpResponse, ApiError> {
    let at = at(&app.recording, &uri)?;
    let view = app.recording.state_at(at).unwrap_or_default();
    let links = |status: &crate::canary::model::CanaryStatus, since: u64| {
        let hosts = [status.stable.as_str(), status.canary.as_str()];
        Some(query::canary_links(
            app.recording.traces.iter(),
            &app.names,
            hosts,
            since,
            at,
        ))
    };
    let r = super::report::from_view(&view, links, |_| None, at);
    super::report::answer(r, html)
}

/// Why a replay cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Recording(#[from] RecordingError),
    #[error("the replay cannot listen on 127.0.0.1:{port}: {source} (see --dashboard-port)")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the replay stopped: {0}")]
    Serve(#[source] std::io::Error),
}

/// Serve the recording in `dir` on 127.0.0.1:`port` until `stop` completes.
pub(crate) async fn replay(
    dir: &Path,
    port: u16,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ReplayError> {
    let recording = Recording::read(dir)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| ReplayError::Bind { port, source })?;
    let port = listener.local_addr().map_or(port, |a| a.port());
    let seconds = recording.end_ms.saturating_sub(recording.meta.started_ms) / 1000;
    println!(
        "kyc-mesh: replaying {} (recorded {}, {} min {} s: {} states, {} events, {} traces{})",
        dir.display(),
        crate::canary::report::utc(recording.meta.started_ms),
        seconds / 60,
        seconds % 60,
        recording.states.len(),
        recording.events.len(),
        recording.traces.len(),
        if recording.skipped > 0 {
            format!(", {} unreadable lines skipped", recording.skipped)
        } else {
            String::new()
        }
    );
    println!("  dashboard (read-only): http://localhost:{port}/   Ctrl-C stops");
    let app = App {
        names: Arc::new(recording.meta.names()),
        recording: Arc::new(recording),
        page: super::api::page("", "replay").into(),
    };
    let guard = Guard {
        port,
        token: String::new(),
    };
    axum::serve(listener, router(app, guard))
        .with_graceful_shutdown(stop)
        .await
        .map_err(ReplayError::Serve)
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
