//! How error answers are documented: a type that can answer an error implements
//! [`IntoResponses`] with [`error_responses`], and routes list the type in
//! `responses(...)` of `#[utoipa::path]` (the extractor [`ApiJson`], the [`Chaos`] knobs, the
//! aggregator's gateway errors), instead of repeating the lines on every route.

use std::collections::BTreeMap;

use utoipa::openapi::schema::Ref;
use utoipa::openapi::{Content, RefOr, Response, ResponseBuilder};
use utoipa::IntoResponses;

use super::context::Chaos;
use super::extract::ApiJson;

/// `(status, description)` pairs as responses whose body is the error body.
pub fn error_responses(answers: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    answers
        .iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// How a JSON body is refused (see `From<JsonRejection> for ApiError`; malformed JSON is a 400, which
/// each route documents with its other 400s).
impl<T> IntoResponses for ApiJson<T> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            (413, "Body over 64 KiB"),
            (415, "Content-Type is not application/json"),
            (422, "A field is missing or invalid; the message names it"),
        ])
    }
}

/// The 503 of every business route: load shedding, or the chaos knob.
impl IntoResponses for Chaos {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[(
            503,
            "Over capacity: KYC_MAX_CONCURRENT_REQUESTS requests already in flight (answered at once, \
             not queued; retry later), or an injected failure (KYC_CHAOS_ERROR_RATE)",
        )])
    }
}
