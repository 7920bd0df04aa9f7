//! The bounded store of recent traces: at most [`Limits::max_traces`] traces and
//! [`Limits::max_bytes`] of span and log data (what [`Span::weight`] counts), the oldest trace
//! dropped first and counted; at most [`Limits::max_spans_per_trace`] spans in one trace (more
//! are dropped and counted). Every counter the receiver and the dashboard show lives here.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use super::model::{LogLine, Span, TraceId};

/// How much the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_traces: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_spans_per_trace: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_traces: 2_000,
            max_bytes: 64 << 20,
            max_spans_per_trace: 512,
        }
    }
}

/// One trace as received so far.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trace {
    pub(crate) id: TraceId,
    pub(crate) spans: Vec<Span>,
    /// Access-log lines of its requests (Envoy's access logger).
    pub(crate) logs: Vec<LogLine>,
    /// What its spans and lines weigh (see [`Span::weight`]).
    pub(crate) bytes: usize,
    /// Arrival order: a trace first seen later has a larger one.
    pub(crate) seq: u64,
    /// Unix milliseconds of the last span or line received.
    pub(crate) updated_ms: u64,
}

/// What the receiver has seen since it started.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spans_received: AtomicU64,
    /// Spans with a malformed id (OTLP's partial success: `rejected_spans`).
    pub(crate) spans_rejected: AtomicU64,
    /// Spans beyond [`Limits::max_spans_per_trace`].
    pub(crate) spans_dropped: AtomicU64,
    /// Whole traces dropped to stay within the limits (the oldest first).
    pub(crate) traces_dropped: AtomicU64,
    /// Payloads that were not OTLP (400, gRPC INVALID_ARGUMENT) or not of a known type (415).
    pub(crate) payloads_rejected: AtomicU64,
    /// Payloads above the size limit (413, gRPC RESOURCE_EXHAUSTED).
    pub(crate) payloads_too_large: AtomicU64,
    pub(crate) logs_received: AtomicU64,
    pub(crate) logs_rejected: AtomicU64,
}

/// The counters and the store's fill, as the dashboard and `GET /api/traces` show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoreStatus {
    pub(crate) traces: usize,
    pub(crate) bytes: usize,
    pub(crate) max_traces: usize,
    pub(crate) max_bytes: usize,
    pub(crate) spans_received: u64,
    pub(crate) spans_rejected: u64,
    pub(crate) spans_dropped: u64,
    pub(crate) traces_dropped: u64,
    pub(crate) payloads_rejected: u64,
    pub(crate) payloads_too_large: u64,
    pub(crate) logs_received: u64,
    pub(crate) logs_rejected: u64,
}

/// The traces of the store with a span, in no order (see [`Store::with_traces`]).
#[derive(Clone)]
pub(crate) struct Traces<'a>(std::collections::hash_map::Values<'a, TraceId, Trace>);

impl<'a> Iterator for Traces<'a> {
    type Item = &'a Trace;
    fn next(&mut self) -> Option<&'a Trace> {
        self.0.by_ref().find(|t| !t.spans.is_empty())
    }
}

#[derive(Debug, Default)]
struct Inner {
    traces: HashMap<TraceId, Trace>,
    /// Oldest first: (id, seq). A trace appears once.
    order: VecDeque<(TraceId, u64)>,
    bytes: usize,
    next_seq: u64,
    /// Access-log lines whose trace has no span yet (an Envoy's logger may flush before the
    /// tracers do), at most [`PENDING_LOGS`] traces' worth: they join their trace when its
    /// first span comes, or are forgotten, oldest first (an untraced request's line).
    pending: HashMap<TraceId, Vec<LogLine>>,
    pending_order: VecDeque<TraceId>,
}

/// How many access-log lines wait for their trace's first span.
const PENDING_LOGS: usize = 4_096;

/// The store, shared by the receiver (writes), the dashboard and the recorder (reads).
#[derive(Debug)]
pub(crate) struct Store {
    limits: Limits,
    inner: Mutex<Inner>,
    pub(crate) counters: Counters,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Store {
    pub(crate) fn new(limits: Limits) -> Self {
        Store {
            limits,
            inner: Mutex::new(Inner::default()),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keep `spans` (received at `now_ms`), then drop the oldest traces beyond the limits.
    pub(crate) fn add_spans(&self, spans: Vec<Span>, now_ms: u64) {
        add(&self.counters.spans_received, spans.len() as u64);
        let mut dropped = 0;
        let mut inner = self.lock();
        for span in spans {
            let trace = inner.trace(span.trace_id, now_ms);
            if trace.spans.len() >= self.limits.max_spans_per_trace {
                dropped += 1;
                continue;
            }
            let weight = span.weight();
            trace.bytes += weight;
            trace.spans.push(span);
            inner.bytes += weight;
        }
        let evicted = inner.evict(&self.limits);
        drop(inner);
        add(&self.counters.spans_dropped, dropped);
        add(&self.counters.traces_dropped, evicted);
    }

    /// Keep access-log `lines` with their traces (or until their trace's first span comes).
    pub(crate) fn add_logs(&self, lines: Vec<LogLine>, now_ms: u64) {
        add(&self.counters.logs_received, lines.len() as u64);
        let mut inner = self.lock();
        for line in lines {
            if inner.traces.contains_key(&line.trace_id) {
                inner.attach(line, now_ms, &self.limits);
            } else {
                inner.wait(line);
            }
        }
        let evicted = inner.evict(&self.limits);
        drop(inner);
        add(&self.counters.traces_dropped, evicted);
    }

    /// One trace (a copy), if still kept and with a span.
    pub(crate) fn get(&self, id: &TraceId) -> Option<Trace> {
        self.lock()
            .traces
            .get(id)
            .filter(|t| !t.spans.is_empty())
            .cloned()
    }

    /// Run `f` over every trace with a span (the iterator can be cloned to go again).
    pub(crate) fn with_traces<R>(&self, f: impl FnOnce(Traces<'_>) -> R) -> R {
        let inner = self.lock();
        f(Traces(inner.traces.values()))
    }

    /// Traces first seen after `after_seq` whose last span arrived before `settled_before_ms`,
    /// in arrival order, stopping at the first that is still receiving: what a recorder takes
    /// once a trace is complete. Returns them and the seq to continue after.
    pub(crate) fn settled_after(
        &self,
        after_seq: u64,
        settled_before_ms: u64,
    ) -> (Vec<Trace>, u64) {
        let inner = self.lock();
        let mut out = Vec::new();
        let mut last = after_seq;
        for (id, seq) in inner.order.iter().filter(|(_, s)| *s > after_seq) {
            let Some(t) = inner.traces.get(id) else {
                continue;
            };
            if t.updated_ms >= settled_before_ms {
                break;
            }
            last = *seq;
            if !t.spans.is_empty() {
                out.push(t.clone());
            }
        }
        (out, last)
    }

    pub(crate) fn status(&self) -> StoreStatus {
        let (traces, bytes) = {
            let inner = self.lock();
            (inner.traces.len(), inner.bytes)
        };
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreStatus {
            traces,
            bytes,
            max_traces: self.limits.max_traces,
            max_bytes: self.limits.max_bytes,
            spans_received: get(&c.spans_received),
            spans_rejected: get(&c.spans_rejected),
            spans_dropped: get(&c.spans_dropped),
            traces_dropped: get(&c.traces_dropped),
            payloads_rejected: get(&c.payloads_rejected),
            payloads_too_large: get(&c.payloads_too_large),
            logs_received: get(&c.logs_received),
            logs_rejected: get(&c.logs_rejected),
        }
    }
}

impl Inner {
    /// The trace `id`, created (with its waiting access-log lines) when new.
    fn trace(&mut self, id: TraceId, now_ms: u64) -> &mut Trace {
        let Inner {
            traces,
            order,
            bytes,
            next_seq,
            pending,
            ..
        } = self;
        let t = traces.entry(id).or_insert_with(|| {
            *next_seq += 1;
            order.push_back((id, *next_seq));
            let logs = pending.remove(&id).unwrap_or_default();
            let weight = logs.iter().map(LogLine::weight).sum();
            *bytes += weight;
            Trace {
                id,
                spans: Vec::new(),
                logs,
                bytes: weight,
                seq: *next_seq,
                updated_ms: now_ms,
            }
        });
        t.updated_ms = now_ms;
        t
    }

    /// Keep `line` until its trace's first span (the oldest waiting go first).
    fn wait(&mut self, line: LogLine) {
        let id = line.trace_id;
        let lines = self.pending.entry(id).or_default();
        if lines.is_empty() {
            self.pending_order.push_back(id);
        }
        lines.push(line);
        while self.pending_order.len() > PENDING_LOGS {
            if let Some(old) = self.pending_order.pop_front() {
                self.pending.remove(&old);
            }
        }
    }

    fn attach(&mut self, line: LogLine, now_ms: u64, limits: &Limits) {
        let trace = self.trace(line.trace_id, now_ms);
        if trace.logs.len() >= limits.max_spans_per_trace {
            return;
        }
        let weight = line.weight();
        trace.bytes += weight;
        trace.logs.push(line);
        self.bytes += weight;
    }

    /// Drop the oldest traces until within `limits`; how many were dropped.
    fn evict(&mut self, limits: &Limits) -> u64 {
        let mut n = 0;
        while self.traces.len() > limits.max_traces || self.bytes > limits.max_bytes {
            let Some((id, _)) = self.order.pop_front() else {
                break;
            };
            if let Some(t) = self.traces.remove(&id) {
                self.bytes -= t.bytes;
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::model::{Kind, LogLine, SpanId};

    pub(crate) fn span(trace: u8, id: u8, attrs: usize) -> Span {
        Span {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            parent_id: None,
            service: "s".into(),
            name: "n".into(),
            kind: Kind::Server,
            start_ns: 1,
            end_ns: 2,
            error: false,
            http_status: Some(200),
            attributes: (0..attrs)
                .map(|i| (format!("k{i}"), "v".repeat(100)))
                .collect(),
            hidden: 0,
        }
    }

    #[test]
    fn the_oldest_traces_go_first_and_are_counted() {
        let store = Store::new(Limits {
            max_traces: 3,
            max_bytes: 1 << 20,
            max_spans_per_trace: 2,
        });
        for t in 1..=5 {
            store.add_spans(vec![span(t, 1, 0)], u64::from(t));
        }
        let s = store.status();
        assert_eq!((s.traces, s.traces_dropped, s.spans_received), (3, 2, 5));
        assert!(store.get(&TraceId([1; 16])).is_none());
        assert!(store.get(&TraceId([5; 16])).is_some());
        let mut kept: Vec<u8> = store.with_traces(|it| it.map(|t| t.id.0[0]).collect());
        kept.sort_unstable();
        assert_eq!(kept, [3, 4, 5]);
        // A late span of a kept trace keeps it where it was; the cap per trace holds.
        store.add_spans(vec![span(3, 2, 0), span(3, 3, 0)], 9);
        assert_eq!(store.get(&TraceId([3; 16])).map(|t| t.spans.len()), Some(2));
        assert_eq!(store.status().spans_dropped, 1);
    }

    #[test]
    fn bytes_are_bounded_too() {
        let one = span(1, 1, 10).weight();
        let store = Store::new(Limits {
            max_traces: 100,
            max_bytes: one * 3,
            max_spans_per_trace: 10,
        });
        for t in 1..=10 {
            store.add_spans(vec![span(t, 1, 10)], 1);
        }
        let s = store.status();
        assert!(s.bytes <= one * 3, "{s:?}");
        assert_eq!(s.traces, 3);
        assert_eq!(s.traces_dropped, 7);
    }

    #[test]
    fn access_log_lines_wait_for_their_first_span_and_untraced_ones_are_forgotten() {
        let store = Store::new(Limits::default());
        let line = |t: u8| LogLine {
            trace_id: TraceId([t; 16]),
            span_id: None,
            service: "istio-ingressgateway".into(),
            upstream_cluster: None,
            at_ns: 1,
            text: format!("line of {t}"),
        };
        store.add_logs(vec![line(1), line(2)], 1);
        assert_eq!(store.status().traces, 0, "no trace without a span");
        store.add_spans(vec![span(1, 1, 0)], 2);
        store.add_logs(vec![line(1)], 3);
        let t = store.get(&TraceId([1; 16])).expect("trace 1");
        assert_eq!(t.logs.len(), 2);
        assert_eq!(store.status().traces, 1);
        for n in 0..(PENDING_LOGS + 10) {
            let mut l = line(3);
            l.trace_id = TraceId((n as u128 + 1000).to_be_bytes());
            store.add_logs(vec![l], 4);
        }
        store.add_spans(vec![span(2, 1, 0)], 5);
        assert!(
            store
                .get(&TraceId([2; 16]))
                .is_some_and(|t| t.logs.is_empty()),
            "forgotten"
        );
    }

    #[test]
    fn settled_traces_come_in_arrival_order_up_to_one_still_receiving() {
        let store = Store::new(Limits::default());
        store.add_spans(vec![span(1, 1, 0)], 100);
        store.add_spans(vec![span(2, 1, 0)], 200);
        store.add_spans(vec![span(3, 1, 0)], 300);
        let (got, next) = store.settled_after(0, 250);
        assert_eq!(got.iter().map(|t| t.id.0[0]).collect::<Vec<_>>(), [1, 2]);
        let (got, _) = store.settled_after(next, 1_000);
        assert_eq!(got.iter().map(|t| t.id.0[0]).collect::<Vec<_>>(), [3]);
    }
}
