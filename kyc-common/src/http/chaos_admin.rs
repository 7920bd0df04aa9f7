//! Runtime chaos: `GET`/`PUT`/`DELETE /admin/chaos` replace the chaos knobs of a running instance
//! at once, so that a canary can be broken on purpose without a restart (`kyc-mesh chaos`).
//!
//! Mounted only when `KYC_CHAOS_API=true` (the local mesh sets it for the services it starts; the
//! cluster YAML never does), outside the OpenAPI document, and not counted as business traffic.
//! It changes state on a port a browser can reach, so it refuses any request carrying an `Origin`
//! header (403): a page of another site cannot flip it, and the mesh's own client sends none.
//!
//! `PUT` body: `{"errorRate": 0..1, "delayMs": 0..60000}` (a missing field is 0); `DELETE` = off.
//! Every answer is the setting now in force, as the same JSON object.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::context::{Chaos, ServiceContext};
use crate::configuration::Share;
use crate::error::{ApiError, ErrorKind};

pub const CHAOS_ADMIN_PATH: &str = "/admin/chaos";
/// The longest delay accepted: a minute already outlasts every timeout of the mesh.
pub const MAX_DELAY_MS: u64 = 60_000;

/// The setting in force, as `GET` shows it and `PUT` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChaosSetting {
    pub error_rate: f64,
    pub delay_ms: u64,
}

impl From<Chaos> for ChaosSetting {
    fn from(c: Chaos) -> Self {
        ChaosSetting {
            error_rate: c.error_rate.get(),
            delay_ms: u64::try_from(c.delay.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The route, for [`super::assemble`] to merge when `ctx.chaos_api` is set.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<ServiceContext>: FromRef<S>,
{
    Router::new().route(
        CHAOS_ADMIN_PATH,
        get(chaos_admin).put(chaos_admin).delete(chaos_admin),
    )
}

async fn chaos_admin(
    State(ctx): State<Arc<ServiceContext>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match answer(&ctx, &method, &headers, &body) {
        Ok(setting) => Json(setting).into_response(),
        Err(e) => e.into_response(),
    }
}

fn answer(
    ctx: &ServiceContext,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ChaosSetting, ApiError> {
    if headers.contains_key("origin") {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "cross-origin requests may not change chaos settings",
        ));
    }
    if *method == Method::DELETE {
        ctx.chaos.set(Chaos::default());
    } else if *method == Method::PUT {
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "Content-Type must be application/json",
            ));
        }
        ctx.chaos.set(parse(body)?);
    }
    Ok(ctx.chaos.get().into())
}

fn bad(message: String) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, message)
}

/// The body of a `PUT`, every problem naming its field.
pub fn parse(body: &[u8]) -> Result<Chaos, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(bad(
            "body must be a JSON object {\"errorRate\":0..1,\"delayMs\":0..60000}".into(),
        ));
    };
    let mut chaos = Chaos::default();
    for (name, v) in &fields {
        match name.as_str() {
            "errorRate" => {
                chaos.error_rate = v.as_f64().and_then(Share::new).ok_or_else(|| {
                    bad(format!("errorRate: {v} is not a number between 0 and 1"))
                })?;
            }
            "delayMs" => {
                let ms = v.as_u64().filter(|ms| *ms <= MAX_DELAY_MS).ok_or_else(|| {
                    bad(format!(
                        "delayMs: {v} is not a whole number of milliseconds between 0 and {MAX_DELAY_MS}"
                    ))
                })?;
                chaos.delay = Duration::from_millis(ms);
            }
            other => {
                return Err(bad(format!(
                    "{other}: unknown field (expected errorRate, delayMs)"
                )))
            }
        }
    }
    Ok(chaos)
}

#[cfg(test)]
#[path = "chaos_admin_tests.rs"]
mod tests;
