//! What `GET /api/traces` and `GET /api/traces/{traceId}` answer, live or in a replay: one
//! summary per trace (entry, status, duration, the versions that served it, span count),
//! filters (errors only, slower than X ms, a version, an edge of the dashboard's graph, a time
//! window), and the waterfall of one trace: every span with its hop, offset, duration,
//! shown attributes and the access-log line of its Envoy.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::canary::model::{TraceLink, TraceLinks};
use crate::field::FieldError;

use super::hop::{upstream_workload, Hop, MeshNames};
use super::model::{Kind, LogLine, Span, SpanId, TraceId};
use super::store::Trace;

/// The graph's node ids (as the dashboard's view names them) an edge can start from.
pub(crate) const CLIENT: &str = "client";
pub(crate) const GATEWAY: &str = "gateway";
pub(crate) const GATEWAY_MESH: &str = "gateway-mesh";
/// Ambient mode: the node proxy drawn on a workload's side (`node-proxy:<workload>`), and a
/// waypoint (`waypoint:<name>`).
const NODE_PROXY: &str = "node-proxy:";
const WAYPOINT: &str = "waypoint:";

/// The workload of a node proxy's id.
fn node_proxy(id: &str) -> Option<&str> {
    id.strip_prefix(NODE_PROXY)
}

/// The name of a waypoint's id.
fn waypoint(id: &str) -> Option<&str> {
    id.strip_prefix(WAYPOINT)
}

pub(crate) fn node_proxy_id(workload: &str) -> String {
    format!("{NODE_PROXY}{workload}")
}

pub(crate) fn waypoint_id(name: &str) -> String {
    format!("{WAYPOINT}{name}")
}

/// The most summaries one answer holds.
pub(crate) const MAX_LIMIT: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Sort {
    /// Newest first.
    #[default]
    Recent,
    /// Longest first (on the edge, when one is given).
    Slowest,
}

/// An edge of the dashboard's graph: `from` → `to` node ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
}

/// Which traces, in which order.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Filter {
    /// Only traces with a failed span (on the edge, when one is given).
    pub(crate) errors: bool,
    /// Only traces longer than this (on the edge, when one is given).
    pub(crate) min_ms: Option<f64>,
    /// Only traces served by this version (a `version` label: `v1`) or workload.
    pub(crate) version: Option<String>,
    pub(crate) edge: Option<Edge>,
    /// Only traces that started in `[since_ms, until_ms]` (Unix ms).
    pub(crate) since_ms: Option<u64>,
    pub(crate) until_ms: Option<u64>,
    pub(crate) sort: Sort,
    pub(crate) limit: usize,
}

fn number<T: std::str::FromStr>(field: &str, v: &str, what: &str) -> Result<T, FieldError> {
    v.parse()
        .map_err(|_| FieldError::new(field, format!("{v:?} is not {what}")))
}

impl Filter {
    /// From a URL query (`errors=true&minMs=200&version=v2&from=gateway-mesh&to=…&sort=slowest
    /// &limit=50&since=…&until=…`); an unknown or malformed parameter names itself.
    pub(crate) fn from_query(query: Option<&str>) -> Result<Filter, FieldError> {
        let mut f = Filter {
            limit: 50,
            ..Filter::default()
        };
        let (mut from, mut to) = (None, None);
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "errors" => {
                    f.errors = match v.as_str() {
                        "true" | "1" | "" => true,
                        "false" | "0" => false,
                        _ => return Err(FieldError::new("errors", format!("{v:?} is not true or false"))),
                    }
                }
                "minMs" => {
                    let ms: f64 = number("minMs", &v, "a number of milliseconds")?;
                    if !(ms.is_finite() && ms >= 0.0) {
                        return Err(FieldError::new("minMs", format!("{v:?} is not a duration")));
                    }
                    f.min_ms = Some(ms);
                }
                "version" => f.version = Some(v).filter(|v| !v.is_empty()),
                "from" => from = Some(v),
                "to" => to = Some(v),
                "since" => f.since_ms = Some(number("since", &v, "Unix milliseconds")?),
                "until" | "at" => f.until_ms = Some(number(k, &v, "Unix milliseconds")?),
                "sort" => {
                    f.sort = match v.as_str() {
                        "recent" => Sort::Recent,
                        "slowest" => Sort::Slowest,
                        _ => return Err(FieldError::new("sort", format!("{v:?} is not recent or slowest"))),
                    }
                }
                "limit" => {
                    let n: usize = number("limit", &v, "a count")?;
                    if !(1..=MAX_LIMIT).contains(&n) {
                        return Err(FieldError::new("limit", format!("{n} is not from 1 to {MAX_LIMIT}")));
                    }
                    f.limit = n;
                }
                other => {
                    return Err(FieldError::new(
                        other,
                        "unknown parameter (errors, minMs, version, from, to, since, until, sort, limit)",
                    ))
                }
            }
        }
        f.edge = match (from, to) {
            (Some(from), Some(to)) => Some(Edge { from, to }),
            (None, None) => None,
            (Some(_), None) => return Err(FieldError::new("to", "an edge needs both from and to")),
            (None, Some(_)) => {
                return Err(FieldError::new("from", "an edge needs both from and to"))
            }
        };
        Ok(f)
    }
}

/// `%xx` and `+` of a query value.
fn percent_decode(v: &str) -> String {
    let spaced = v.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// One trace in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    pub(crate) trace_id: TraceId,
    /// Unix milliseconds of its first span.
    pub(crate) start_ms: u64,
    pub(crate) duration_ms: f64,
    /// `POST /kyc/v1/customer`: its first span's method and path.
    pub(crate) entry: String,
    /// The HTTP status its first span answered.
    pub(crate) status: Option<u16>,
    /// A span failed (5xx or an error status), a retried attempt included.
    pub(crate) error: bool,
    /// The `version` labels of the workloads that served it (`v1`, `v2`).
    pub(crate) versions: Vec<String>,
    /// Those workloads.
    pub(crate) served_by: Vec<String>,
    pub(crate) spans: usize,
    /// With an edge filter: the time on that edge, and whether it failed there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) edge_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) edge_error: bool,
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e6 * 1000.0).round() / 1000.0
}

/// The first span: without a parent in the trace, earliest.
fn root(t: &Trace) -> Option<&Span> {
    let ids: BTreeSet<SpanId> = t.spans.iter().map(|s| s.span_id).collect();
    t.spans
        .iter()
        .filter(|s| s.parent_id.is_none_or(|p| !ids.contains(&p)))
        .min_by_key(|s| s.start_ns)
}

fn path_of(span: &Span) -> Option<String> {
    if let Some(p) = span.attribute("url.path").or(span.attribute("http.route")) {
        return Some(p.to_string());
    }
    let url = span.attribute("http.url").or(span.attribute("url.full"))?;
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    Some(
        after_scheme
            .find('/')
            .map_or("/".into(), |i| after_scheme[i..].to_string()),
    )
}

fn entry_of(span: &Span) -> String {
    let method = span
        .attribute("http.request.method")
        .or(span.attribute("http.method"));
    match (method, path_of(span)) {
        (Some(m), Some(p)) => format!("{m} {p}"),
        _ => span.name.clone(),
    }
}

fn failed(s: &Span) -> bool {
    s.error || s.http_status.is_some_and(|c| c >= 500)
}

/// The spans of `t` on `edge`, and whether each is the edge's own timing (the others count
/// for its errors only).
fn on_edge<'a>(
    t: &'a Trace,
    hops: &'a [Hop],
    names: &'a MeshNames,
    edge: &'a Edge,
) -> impl Iterator<Item = (&'a Span, bool)> + 'a {
    t.spans.iter().zip(hops).filter_map(move |(s, hop)| {
        let timing = s.kind != Kind::Client || !hop.is_proxy();
        let to = edge.to.as_str();
        let on = match (edge.from.as_str(), hop) {
            (CLIENT | GATEWAY, Hop::Ingress) => Some(timing),
            (CLIENT | GATEWAY, Hop::SidecarInbound(w) | Hop::Service(w))
                if *w == names.entry && edge.from == GATEWAY && to == names.entry =>
            {
                Some(false)
            }
            (from, Hop::MeshRoute) if from == names.entry && to == GATEWAY_MESH => Some(timing),
            (from, Hop::Call(w) | Hop::SidecarOutbound(w))
                if from == names.entry && *w == names.entry && to == GATEWAY_MESH =>
            {
                Some(false)
            }
            (GATEWAY_MESH, Hop::MeshRoute) if upstream_workload(s) == Some(to) => Some(timing),
            (GATEWAY_MESH, Hop::SidecarInbound(w) | Hop::Service(w)) if w == to => Some(false),
            // Ambient mode: entry → its node proxy → waypoint → a scorer's node proxy → scorer.
            // The node proxies add no span: the edge to one is timed by the span it leads to.
            (from, Hop::Call(w))
                if from == names.entry
                    && *w == names.entry
                    && (node_proxy(to) == Some(w) || waypoint(to).is_some()) =>
            {
                Some(timing)
            }
            (from, Hop::Waypoint(_))
                if from == names.entry && node_proxy(to) == Some(&names.entry) =>
            {
                Some(false)
            }
            (from, Hop::Waypoint(w))
                if (from == names.entry || node_proxy(from).is_some())
                    && waypoint(to) == Some(w) =>
            {
                Some(timing)
            }
            (from, Hop::Waypoint(w))
                if waypoint(from) == Some(w)
                    && node_proxy(to).is_some_and(|t| upstream_workload(s) == Some(t)) =>
            {
                Some(timing)
            }
            (from, Hop::Service(w)) if waypoint(from).is_some() && node_proxy(to) == Some(w) => {
                Some(false)
            }
            (from, Hop::Service(w)) if node_proxy(from) == Some(w) && to == w => Some(timing),
            _ => None,
        };
        on.map(|timing| (s, timing))
    })
}

/// A summary of `t` (the edge's figures when `edge` is given).
pub(crate) fn summarize(t: &Trace, names: &MeshNames, edge: Option<&Edge>) -> Option<Summary> {
    let first = root(t)?;
    let start = t.spans.iter().map(|s| s.start_ns).min()?;
    let end = t.spans.iter().map(|s| s.end_ns).max()?;
    let hops: Vec<Hop> = t.spans.iter().map(|s| Hop::of(s, names)).collect();
    let served: BTreeSet<&str> = hops
        .iter()
        .filter_map(|h| match h {
            Hop::Service(w) | Hop::SidecarInbound(w) if *w != names.entry => Some(w.as_str()),
            _ => None,
        })
        .collect();
    let versions: BTreeSet<String> = served
        .iter()
        .filter_map(|w| names.versions.get(*w).filter(|v| !v.is_empty()).cloned())
        .collect();
    let (edge_ms, edge_error) = match edge {
        Some(e) => {
            let spans: Vec<(&Span, bool)> = on_edge(t, &hops, names, e).collect();
            if spans.is_empty() {
                return None;
            }
            let timed = spans
                .iter()
                .filter(|(_, timing)| *timing)
                .map(|(s, _)| s.duration_ns())
                .max();
            (timed.map(ms), spans.iter().any(|(s, _)| failed(s)))
        }
        None => (None, false),
    };
    Some(Summary {
        trace_id: t.id,
        start_ms: start / 1_000_000,
        duration_ms: ms(end.saturating_sub(start)),
        entry: entry_of(first),
        status: first.http_status,
        error: t.spans.iter().any(failed),
        versions: versions.into_iter().collect(),
        served_by: served.into_iter().map(str::to_string).collect(),
        spans: t.spans.len(),
        edge_ms,
        edge_error,
    })
}

/// What a list answers: the summaries (at most `limit`) and how many matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Listed {
    pub(crate) traces: Vec<Summary>,
    pub(crate) matched: usize,
}

/// The traces of `all` that `f` keeps, in its order.
pub(crate) fn list<'a>(
    all: impl Iterator<Item = &'a Trace>,
    names: &MeshNames,
    f: &Filter,
) -> Listed {
    let mut kept: Vec<Summary> = all
        .filter_map(|t| summarize(t, names, f.edge.as_ref()))
        .filter(|s| f.since_ms.is_none_or(|since| s.start_ms >= since))
        .filter(|s| f.until_ms.is_none_or(|until| s.start_ms <= until))
        .filter(|s| {
            !f.errors
                || if f.edge.is_some() {
                    s.edge_error
                } else {
                    s.error
                }
        })
        .filter(|s| {
            f.min_ms
                .is_none_or(|min| s.edge_ms.unwrap_or(s.duration_ms) > min)
        })
        .filter(|s| {
            f.version.as_ref().is_none_or(|v| {
                s.versions.iter().any(|x| x == v) || s.served_by.iter().any(|x| x == v)
            })
        })
        .collect();
    match f.sort {
        Sort::Recent => kept.sort_by_key(|s| std::cmp::Reverse(s.start_ms)),
        Sort::Slowest => kept.sort_by(|a, b| {
            let d = |s: &Summary| s.edge_ms.unwrap_or(s.duration_ms);
            d(b).total_cmp(&d(a))
        }),
    }
    let matched = kept.len();
    kept.truncate(f.limit.max(1));
    Listed {
        traces: kept,
        matched,
    }
}

/// One span of a waterfall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpanView {
    pub(crate) span_id: SpanId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parent_id: Option<SpanId>,
    /// 0 for the first span, its children 1, …
    pub(crate) depth: usize,
    /// Which hop (`ingress`, `sidecar-inbound` …) and its workload.
    pub(crate) hop: Hop,
    /// The hop as people read it (`kyc-credit-check-advanced's sidecar · inbound`).
    pub(crate) label: String,
    pub(crate) service: String,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// Milliseconds after the trace's first span started.
    pub(crate) offset_ms: f64,
    pub(crate) duration_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    pub(crate) error: bool,
    pub(crate) attributes: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "crate::traces::query::is_zero")]
    pub(crate) hidden_attributes: u32,
    /// The access-log line(s) its Envoy wrote for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) access_log: Vec<String>,
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One trace, as the waterfall draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Detail {
    #[serde(flatten)]
    pub(crate) summary: Summary,
    pub(crate) spans: Vec<SpanView>,
    /// Access-log lines of the trace no span could be matched with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) other_access_log: Vec<String>,
}

/// The span each access-log line belongs to: its span id when the line carries one, else the
/// Envoy span of the same proxy and upstream cluster nearest in time.
fn attach_logs(spans: &[Span], logs: &[LogLine]) -> (HashMap<SpanId, Vec<String>>, Vec<String>) {
    let mut by_span: HashMap<SpanId, Vec<String>> = HashMap::new();
    let mut other = Vec::new();
    for line in logs {
        let exact = line
            .span_id
            .filter(|id| spans.iter().any(|s| s.span_id == *id));
        let matched = exact.or_else(|| {
            spans
                .iter()
                .filter(|s| s.service == line.service && s.kind != Kind::Client)
                .filter(|s| {
                    line.upstream_cluster.is_none()
                        || s.upstream_cluster().is_none()
                        || s.upstream_cluster() == line.upstream_cluster.as_deref()
                })
                .min_by_key(|s| s.start_ns.abs_diff(line.at_ns))
                .map(|s| s.span_id)
        });
        match matched {
            Some(id) => by_span.entry(id).or_default().push(line.text.clone()),
            None => other.push(line.text.clone()),
        }
    }
    (by_span, other)
}

/// The waterfall of `t`: spans depth-first from the first, children by start time.
pub(crate) fn detail(t: &Trace, names: &MeshNames) -> Option<Detail> {
    let summary = summarize(t, names, None)?;
    let start = t.spans.iter().map(|s| s.start_ns).min()?;
    let ids: BTreeSet<SpanId> = t.spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<Option<SpanId>, Vec<&Span>> = HashMap::new();
    for s in &t.spans {
        let parent = s.parent_id.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(s);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| (s.start_ns, std::cmp::Reverse(s.end_ns)));
    }
    let (mut logs, other) = attach_logs(&t.spans, &t.logs);
    let mut out = Vec::with_capacity(t.spans.len());
    let mut stack: Vec<(&Span, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|s| (*s, 0)).collect())
        .unwrap_or_default();
    while let Some((s, depth)) = stack.pop() {
        if let Some(kids) = children.get(&Some(s.span_id)) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
        let hop = Hop::of(s, names);
        out.push(SpanView {
            span_id: s.span_id,
            parent_id: s.parent_id,
            depth,
            label: hop.label(s, names),
            hop,
            service: s.service.clone(),
            name: s.name.clone(),
            kind: s.kind,
            offset_ms: ms(s.start_ns.saturating_sub(start)),
            duration_ms: ms(s.duration_ns()),
            status: s.http_status,
            error: failed(s),
            attributes: s.attributes.clone(),
            hidden_attributes: s.hidden,
            access_log: logs.remove(&s.span_id).unwrap_or_default(),
        });
    }
    Some(Detail {
        summary,
        spans: out,
        other_access_log: other,
    })
}

/// The canary's failing and slowest traces between `since_ms` and `until_ms`: on the mesh
/// route to each of `hosts` (the stable and the canary), the `failing` newest failed ones and
/// the `slowest`, as the report and the final status link them.
pub(crate) fn canary_links<'a>(
    all: impl Iterator<Item = &'a Trace> + Clone,
    names: &MeshNames,
    hosts: [&str; 2],
    since_ms: u64,
    until_ms: u64,
) -> TraceLinks {
    const FAILING: usize = 5;
    const SLOWEST: usize = 3;
    let mut links = TraceLinks::default();
    for host in hosts {
        let filter = |errors: bool, sort: Sort, limit: usize| Filter {
            errors,
            edge: Some(Edge {
                from: GATEWAY_MESH.into(),
                to: host.into(),
            }),
            since_ms: Some(since_ms),
            until_ms: Some(until_ms),
            sort,
            limit,
            ..Filter::default()
        };
        let link = |s: Summary| TraceLink {
            trace_id: s.trace_id.to_string(),
            host: host.to_string(),
            duration_ms: s.edge_ms.unwrap_or(s.duration_ms),
            start_ms: s.start_ms,
            error: s.edge_error,
        };
        let failing = list(all.clone(), names, &filter(true, Sort::Recent, FAILING));
        links.failing.extend(failing.traces.into_iter().map(link));
        let slowest = list(all.clone(), names, &filter(false, Sort::Slowest, SLOWEST));
        links.slowest.extend(slowest.traces.into_iter().map(link));
    }
    links
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
