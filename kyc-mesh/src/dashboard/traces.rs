//! `GET /api/traces?…` and `GET /api/traces/{traceId}`: the traces of `up`'s receiver, or of a
//! recording in a replay ([`Source`] is either), through `traces::query`. Off (no receiver),
//! the list is empty and says why.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use serde::Serialize;

use crate::traces::hop::MeshNames;
use crate::traces::model::TraceId;
use crate::traces::query::{self, Filter, Listed};
use crate::traces::store::{Store, StoreStatus, Trace};

use super::input::ApiError;

/// Where the traces come from.
pub(super) trait Source: Send + Sync {
    fn list(&self, names: &MeshNames, filter: &Filter) -> Listed;
    fn get(&self, id: &TraceId) -> Option<Trace>;
    fn status(&self) -> StoreStatus;
}

/// A trace whose last span came less than this ago is still arriving (the exporters flush
/// every 500 ms): the list shows it once complete, so no row reads "2 spans" for a moment.
const ARRIVING_MS: u64 = 1_200;

impl Source for Store {
    fn list(&self, names: &MeshNames, filter: &Filter) -> Listed {
        let settled = crate::traces::now_ms().saturating_sub(ARRIVING_MS);
        self.with_traces(|all| query::list(all.filter(|t| t.updated_ms <= settled), names, filter))
    }
    fn get(&self, id: &TraceId) -> Option<Trace> {
        Store::get(self, id)
    }
    fn status(&self) -> StoreStatus {
        Store::status(self)
    }
}

/// Why there are no traces to show (no receiver).
pub(super) fn off_note(elsewhere: Option<&str>) -> String {
    match elsewhere {
        Some(to) => {
            format!("spans go to {to} (OTEL_EXPORTER_OTLP_ENDPOINT); unset it to see them here")
        }
        None => {
            "the local OTLP receiver is off (--no-traces, or its port was taken: see up's output)"
                .into()
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListAnswer {
    #[serde(flatten)]
    listed: Listed,
    /// The store's counters (`None`: no receiver).
    receiver: Option<StoreStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

fn json<T: Serialize>(value: &T) -> HttpResponse {
    ([(header::CACHE_CONTROL, "no-store")], Json(value)).into_response()
}

/// `GET /api/traces?…`: the summaries `query` selects, newest (or slowest) first.
pub(super) fn list(
    source: Option<&dyn Source>,
    names: &MeshNames,
    query: Option<&str>,
    note: &str,
) -> Result<HttpResponse, ApiError> {
    let filter = Filter::from_query(query)?;
    let answer = match source {
        Some(s) => ListAnswer {
            listed: s.list(names, &filter),
            receiver: Some(s.status()),
            note: Some(note.to_string()).filter(|n| !n.is_empty()),
        },
        None => ListAnswer {
            listed: Listed {
                traces: Vec::new(),
                matched: 0,
            },
            receiver: None,
            note: Some(note.to_string()),
        },
    };
    Ok(json(&answer))
}

/// `GET /api/traces/{traceId}`: one trace's waterfall; 404 when not (or no longer) kept.
pub(super) fn detail(
    source: Option<&dyn Source>,
    names: &MeshNames,
    id: &str,
) -> Result<HttpResponse, ApiError> {
    let id: TraceId = id.parse()?;
    let found = source
        .and_then(|s| s.get(&id))
        .and_then(|t| query::detail(&t, names));
    match found {
        Some(d) => Ok(json(&d)),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            error: format!("trace {id} is not kept (the store keeps the most recent traces; a recording a sample)"),
            field: Some("traceId".into()),
        }),
    }
}
