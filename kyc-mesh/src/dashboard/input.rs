//! The JSON bodies of the write endpoints and their errors: bad input → 400
//! `{"error": "...", "field": "..."}` naming the field; `up`'s answers mapped to HTTP.

use std::collections::BTreeMap;

use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::control::protocol::{Refusal, Response};

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn bad(field: impl Into<String>, error: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            field: Some(field.into()),
        }
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

/// The field a message of `up` names first (`weights.kyc-credit-check-basic: …`,
/// `errorRate: …`): the convention of every validation in kyc-mesh.
pub fn field_of(message: &str) -> Option<String> {
    let (head, _) = message.split_once(':')?;
    let ok = !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    ok.then(|| head.to_string())
}

/// `up`'s answer as HTTP: done → 200 `{"message", "state"}`; refused → 400 (bad request,
/// naming the field), 404 (unknown service), 409 (conflict), 503 (unavailable); failed → 500.
pub fn answer(response: Option<Response>) -> HttpResponse {
    let (status, error, field) = match response {
        Some(Response::Done { message, state }) => {
            let body = serde_json::json!({ "message": message, "state": state });
            return (StatusCode::OK, Json(body)).into_response();
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "kyc-mesh up did not answer in time (busy with a reload or a rollout?); try again"
                .into(),
            None,
        ),
        Some(Response::Refused { reason, message }) => {
            let (status, field) = match reason {
                Refusal::BadRequest => (StatusCode::BAD_REQUEST, field_of(&message)),
                Refusal::UnknownService => (StatusCode::NOT_FOUND, Some("service".into())),
                Refusal::Conflict => (StatusCode::CONFLICT, None),
                Refusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
            };
            (status, message, field)
        }
        Some(Response::Failed { message }) => (StatusCode::INTERNAL_SERVER_ERROR, message, None),
    };
    ApiError {
        status,
        error,
        field,
    }
    .into_response()
}

/// Read a JSON body into `T`; the error names the field (`weights.x`, or the missing one).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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
pub struct WeightsBody {
    pub virtual_service: String,
    pub route: String,
    /// Required (null allowed): read as a value so a missing one is an error.
    pub weights: serde_json::Value,
}

impl WeightsBody {
    pub fn weights(&self) -> Result<Option<BTreeMap<String, serde_json::Number>>, ApiError> {
        match &self.weights {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(host, v)| match v {
                    serde_json::Value::Number(n) => Ok((host.clone(), n.clone())),
                    other => Err(ApiError::bad(
                        format!("weights.{host}"),
                        format!("weights.{host}: {other} is not a number"),
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Some),
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
pub struct ScenarioBody {
    pub scenario: serde_json::Value,
}

impl ScenarioBody {
    /// The argument of `kyc-mesh use` (`none` for null). Only names: a web page may not
    /// point `up` at an arbitrary file.
    pub fn name(&self, known: &[String]) -> Result<String, ApiError> {
        match &self.scenario {
            serde_json::Value::Null => Ok("none".into()),
            serde_json::Value::String(s) if known.contains(s) => Ok(s.clone()),
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
pub struct ChaosBody {
    #[serde(default)]
    pub error_rate: Option<f64>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

/// The query of `PUT|DELETE /api/chaos/{service}`: `?instance=1` or
/// `?instance=kyc-credit-check-advanced-1` (the CLI's `--instance N` / `--pod NAME`); absent:
/// every instance. A query, not a body field: `DELETE` has no body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosQuery {
    #[serde(default)]
    pub instance: Option<String>,
}

/// The instance (pod name) a chaos request's `uri` picks in its query (`None`: every
/// instance). An index `N` names `<service>-N`; whether it exists is `up`'s to say.
pub fn chaos_instance(service: &str, uri: &Uri) -> Result<Option<String>, ApiError> {
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

/// `up`'s answer to a chaos request for one instance: its refusal of an unknown instance of a
/// known service is the instance's fault (400 naming `instance`, with the CLI's text), not an
/// unknown service (404).
pub fn chaos_answer(response: Option<Response>, instance_of_known_service: bool) -> HttpResponse {
    match response {
        Some(Response::Refused {
            reason: Refusal::UnknownService,
            message,
        }) if instance_of_known_service => ApiError::bad("instance", message).into_response(),
        other => answer(other),
    }
}

/// `PUT /api/load`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBody {
    pub rps: u32,
}

/// `POST /api/canary`: the canary's parameters, each optional (the CLI's defaults apply).
pub fn canary_spec(body: &[u8]) -> Result<crate::canary::model::CanarySpec, ApiError> {
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
    let spec: crate::canary::model::CanarySpec = parse(&text)?;
    spec.validate().map_err(|e| {
        let field = field_of(&e).unwrap_or_else(|| "body".into());
        ApiError::bad(field, e)
    })?;
    Ok(spec)
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
