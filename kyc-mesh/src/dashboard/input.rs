//! The JSON bodies of the write endpoints and their errors: bad input → 400
//! `{"error": "...", "field": "..."}` naming the field (a [`FieldError`] carried as a value);
//! `up`'s answers mapped to HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::control::wire;
use crate::field::FieldError;
use crate::ops::{Outcome, Refusal, Refused};
use crate::weights::Weights;

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error: String,
    pub(crate) field: Option<String>,
}

impl ApiError {
    pub(super) fn bad(field: impl Into<String>, error: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            field: Some(field.into()),
        }
    }
}

/// An invalid value: 400 naming its field.
impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::bad(e.field.clone(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> HttpResponse {
        let mut body = serde_json::json!({ "error": self.error });
        if let Some(f) = self.field {
            body["field"] = f.into();
        }
        (self.status, Json(body)).into_response()
    }
}

/// `up`'s answer as HTTP: done → 200 `{"message", "state"}`; refused → 400 (bad request,
/// naming the field), 404 (unknown service; 400 naming `instance` for an unknown instance of
/// a known one), 409 (conflict), 503 (unavailable); failed → 500; no answer in time → 503.
pub(super) fn answer(outcome: Option<Outcome>) -> HttpResponse {
    let (status, error, field) = match outcome {
        Some(Outcome::Done { message, state }) => {
            let state = state.map(|s| wire::mesh_state(*s));
            let body = serde_json::json!({ "message": message, "state": state });
            return (StatusCode::OK, Json(body)).into_response();
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "kyc-mesh up did not answer in time (busy with a reload or a rollout?); try again"
                .into(),
            None,
        ),
        Some(Outcome::Refused(Refused {
            reason,
            field,
            message,
        })) => {
            let (status, field) = match (reason, field) {
                (Refusal::BadRequest, field) => (StatusCode::BAD_REQUEST, field),
                (Refusal::UnknownService, Some(f)) if f == "instance" => {
                    (StatusCode::BAD_REQUEST, Some(f))
                }
                (Refusal::UnknownService, _) => (StatusCode::NOT_FOUND, Some("service".into())),
                (Refusal::Conflict, _) => (StatusCode::CONFLICT, None),
                (Refusal::Unavailable, _) => (StatusCode::SERVICE_UNAVAILABLE, None),
            };
            (status, message, field)
        }
        Some(Outcome::Failed { message }) => (StatusCode::INTERNAL_SERVER_ERROR, message, None),
    };
    ApiError {
        status,
        error,
        field,
    }
    .into_response()
}

/// `up`'s answer to `POST /api/scenario` (the scenario shown as `shown`): switched → 200
/// `{"message"}`; not a scenario that translates → 400 naming `scenario`; refused by the
/// running mesh → 422 naming it (the last good configuration stays); not answered within
/// `waited` → 202 (it applies when `up` gets to it).
pub(super) fn scenario_answer(
    outcome: Option<Outcome>,
    shown: &str,
    waited: Duration,
) -> HttpResponse {
    match outcome {
        Some(Outcome::Done { message, .. }) => {
            (StatusCode::OK, Json(serde_json::json!({ "message": message }))).into_response()
        }
        Some(Outcome::Failed { message }) => ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: message,
            field: Some("scenario".into()),
        }
        .into_response(),
        None => ApiError {
            status: StatusCode::ACCEPTED,
            error: format!("scenario set to {shown}; the mesh has not applied it within {waited:?} (see the `up` output)"),
            field: None,
        }
        .into_response(),
        refused => answer(refused),
    }
}

/// Read a JSON body into `T`; the error names the field (`weights.x`, or the missing one).
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        // `missing field `route``, `unknown field `x``: the field is in the message.
        let named = text
            .split('`')
            .nth(1)
            .filter(|_| text.starts_with("missing field") || text.starts_with("unknown field"));
        let syntax = inner.is_syntax() || inner.is_eof();
        let field = match (named, path.as_str()) {
            _ if syntax => "body".to_string(),
            (Some(f), ".") => f.to_string(),
            (Some(f), p) if p == f || p.ends_with(&format!(".{f}")) => p.to_string(),
            (Some(f), p) => format!("{p}.{f}"),
            (None, "." | "?") => "body".to_string(),
            (None, p) => p.to_string(),
        };
        let what = if syntax {
            format!("the body is not JSON: {text}")
        } else {
            format!("{field}: {text}")
        };
        ApiError::bad(field, what)
    })?;
    de.end()
        .map_err(|e| ApiError::bad("body", format!("the body is not one JSON object: {e}")))?;
    Ok(value)
}

/// `PUT /api/weights`. `weights: null` clears the override.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct WeightsBody {
    pub(crate) virtual_service: String,
    pub(crate) route: String,
    /// Required (null allowed): read as a value so a missing one is an error.
    pub(crate) weights: serde_json::Value,
}

impl WeightsBody {
    /// The weights, parsed once (whole percentages adding up to 100); `None`: clear.
    pub(super) fn weights(&self) -> Result<Option<Weights>, ApiError> {
        match &self.weights {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Object(map) => {
                let numbers = map
                    .iter()
                    .map(|(host, v)| match v {
                        serde_json::Value::Number(n) => Ok((host.clone(), n.clone())),
                        other => Err(ApiError::bad(
                            format!("weights.{host}"),
                            format!("weights.{host}: {other} is not a number"),
                        )),
                    })
                    .collect::<Result<BTreeMap<String, serde_json::Number>, _>>()?;
                Ok(Some(Weights::from_json(&numbers)?))
            }
            other => Err(ApiError::bad(
                "weights",
                format!("weights: expected an object of destination host → percent, or null, not {other}"),
            )),
        }
    }
}

/// `POST /api/scenario`: a name of networking/scenarios, or null (none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioBody {
    pub(crate) scenario: serde_json::Value,
}

impl ScenarioBody {
    /// The scenario to switch to (`None`: networking/ only, for null). Only names of
    /// `known`: a web page may not point `up` at an arbitrary file.
    pub(super) fn name(&self, known: &[String]) -> Result<Option<String>, ApiError> {
        match &self.scenario {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(s) if known.contains(s) => Ok(Some(s.clone())),
            serde_json::Value::String(s) => Err(ApiError::bad(
                "scenario",
                format!(
                    "scenario: {s:?} is not a scenario of networking/scenarios (one of {})",
                    known.join(", ")
                ),
            )),
            other => Err(ApiError::bad(
                "scenario",
                format!("scenario: expected a name or null, not {other}"),
            )),
        }
    }
}

/// `PUT /api/chaos/{service}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ChaosBody {
    #[serde(default)]
    pub(crate) error_rate: Option<f64>,
    #[serde(default)]
    pub(crate) delay_ms: Option<u64>,
}

/// The query of `PUT|DELETE /api/chaos/{service}`: `?instance=1` or
/// `?instance=kyc-credit-check-advanced-1` (the CLI's `--instance N` / `--pod NAME`); absent:
/// every instance. A query, not a body field: `DELETE` has no body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChaosQuery {
    #[serde(default)]
    pub(crate) instance: Option<String>,
}

/// The instance (pod name) a chaos request's `uri` picks in its query (`None`: every
/// instance). An index `N` names `<service>-N`; whether it exists is `up`'s to say.
pub(super) fn chaos_instance(service: &str, uri: &Uri) -> Result<Option<String>, ApiError> {
    let Query(q) = Query::<ChaosQuery>::try_from_uri(uri).map_err(|e| {
        let e = e.body_text();
        let field = if e.contains("unknown field") {
            "query"
        } else {
            "instance"
        };
        ApiError::bad(
            field,
            format!("{field}: {e} (the query takes only instance=N or instance=<pod name>)"),
        )
    })?;
    match q.instance.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(ApiError::bad(
            "instance",
            "instance: empty (give an index such as 1, or a pod name such as kyc-credit-check-advanced-1; omit it for every instance)",
        )),
        Some(i) if i.bytes().all(|b| b.is_ascii_digit()) => match i.parse::<u32>() {
            Ok(n) => Ok(Some(format!("{service}-{n}"))),
            Err(e) => Err(ApiError::bad("instance", format!("instance: {i}: {e}"))),
        },
        Some(i) => Ok(Some(i.to_string())),
    }
}

/// `PUT /api/load`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoadBody {
    pub(crate) rps: u32,
}

/// `POST /api/canary`: the canary's parameters, each optional (the CLI's defaults apply);
/// their values are checked by `up` (its refusal names the field).
pub(super) fn canary_spec(body: &[u8]) -> Result<crate::canary::model::CanarySpec, ApiError> {
    let given: serde_json::Map<String, serde_json::Value> =
        if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Map::new()
        } else {
            parse(body)?
        };
    let defaults = serde_json::to_value(crate::canary::model::CanarySpec::default())
        .map_err(|e| ApiError::bad("body", e.to_string()))?;
    let mut merged = match defaults {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    merged.extend(given);
    let text = serde_json::to_vec(&merged).map_err(|e| ApiError::bad("body", e.to_string()))?;
    parse(&text)
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
