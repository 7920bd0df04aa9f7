//! `GET /api/canary/report.html` and `report.json`: the canary's report (`canary::report`) made
//! from what the dashboard shows — the canary of its view, the run's checks, the load
//! generator, the weighted route in force (the YAML to commit) — live, or in a replay at the
//! slider's time. A run still going gets the trace links the store has so far.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use serde::Deserialize;

use crate::canary::load::LoadStatus;
use crate::canary::model::{CanaryStatus, Check, TraceLinks};
use crate::canary::report::{self, Report, Yaml};
use crate::canary::yaml;
use crate::istio::RouteRef;
use crate::weights::{RouteKind, WeightedDestination, WeightedRoute};

use super::input::ApiError;

/// A weighted route as the view shows it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewRoute {
    #[serde(default)]
    kind: String,
    virtual_service: String,
    route: String,
    destinations: Vec<ViewDestination>,
}

#[derive(Deserialize)]
struct ViewDestination {
    host: String,
    subset: Option<String>,
    weight: u32,
}

/// The report of the canary in `view` (a `View` as JSON); `None` when no canary has run.
/// `links` gives a run still going (or one without links) its trace links so far, from
/// the run's start (estimated from its checks) to now; `file` names the networking/ file of a
/// VirtualService.
pub(super) fn from_view(
    view: &serde_json::Value,
    links: impl FnOnce(&CanaryStatus, u64) -> Option<TraceLinks>,
    file: impl FnOnce(&str) -> Option<String>,
    now_ms: u64,
) -> Option<Report> {
    let mut outcome: CanaryStatus = serde_json::from_value(view.get("canary")?.clone()).ok()?;
    let checks: Vec<Check> = view
        .get("checks")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let load: Option<LoadStatus> = view
        .get("load")
        .and_then(|l| serde_json::from_value(l.clone()).ok());
    if outcome.traces.is_none() {
        let intervals = checks.len() as u64 + 1;
        let since = now_ms.saturating_sub(intervals.saturating_mul(outcome.spec.interval_ms));
        outcome.traces = links(&outcome, since);
    }
    let routes: Vec<ViewRoute> = view
        .get("routes")
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_default();
    let yaml = routes
        .into_iter()
        .find(|r| {
            r.virtual_service == outcome.spec.virtual_service && r.route == outcome.spec.route
        })
        .map(|r| {
            let route = WeightedRoute {
                route: RouteRef::new(&r.virtual_service, &r.route),
                kind: if r.kind == "HTTPRoute" {
                    RouteKind::HttpRoute {
                        services: Vec::new(),
                    }
                } else {
                    RouteKind::VirtualService
                },
                destinations: r
                    .destinations
                    .into_iter()
                    .map(|d| WeightedDestination {
                        host: d.host,
                        subset: d.subset,
                        weight: d.weight,
                    })
                    .collect(),
                overridden: true,
            };
            Yaml {
                file: file(&r.virtual_service),
                text: yaml::snippet(&route),
            }
        });
    Some(Report {
        spec: outcome.spec.clone(),
        checks,
        outcome,
        load,
        yaml,
        generated_ms: now_ms,
    })
}

/// The answer: the HTML file or the JSON document, as a download; 404 without a canary.
pub(super) fn answer(report: Option<Report>, html: bool) -> Result<HttpResponse, ApiError> {
    let Some(r) = report else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            error:
                "no canary has run in this mesh (start one: the Canary card, or `kyc-mesh canary`)"
                    .into(),
            field: None,
        });
    };
    let (body, content_type, name) = if html {
        (
            report::html(&r),
            "text/html; charset=utf-8",
            "canary-report.html",
        )
    } else {
        (
            serde_json::to_string_pretty(&r).unwrap_or_default(),
            "application/json",
            "canary-report.json",
        )
    };
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_comes_from_the_view_with_its_route_and_links() {
        let spec = crate::canary::model::CanarySpec::default();
        let view = serde_json::json!({
            "canary": {"phase": "progressing", "spec": spec, "stable": "kyc-credit-check-basic",
                "canary": "kyc-credit-check-advanced", "weight": 20, "failedChecks": 0, "message": "canary at 20%"},
            "checks": [],
            "load": {"rps": 10, "sent": 5, "ok": 5, "failed": 0, "injected": 0},
            "routes": [{"virtualService": "kyc-credit-check", "route": "credit-check-report", "overridden": true,
                "destinations": [
                    {"host": "kyc-credit-check-basic", "subset": "v1", "weight": 80},
                    {"host": "kyc-credit-check-advanced", "subset": "v2", "weight": 20}]}],
        });
        let mut asked = None;
        let r = from_view(
            &view,
            |_, since| {
                asked = Some(since);
                Some(TraceLinks::default())
            },
            |vs| Some(format!("networking/{vs}.yaml")),
            100_000,
        )
        .expect("a canary");
        assert_eq!(
            asked,
            Some(100_000 - 10_000),
            "one interval back without checks"
        );
        let y = r.yaml.expect("yaml");
        assert!(
            y.text.contains("weight: 80") && y.text.contains("subset: v2"),
            "{}",
            y.text
        );
        assert_eq!(y.file.as_deref(), Some("networking/kyc-credit-check.yaml"));
        assert_eq!(r.load.map(|l| l.sent), Some(5));
        assert!(from_view(
            &serde_json::json!({"canary": null}),
            |_, _| None,
            |_| None,
            0
        )
        .is_none());
    }
}
