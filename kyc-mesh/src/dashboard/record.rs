//! `up --record DIR`: the recorder task. It follows the collector's views (the collector runs
//! for it even when no page is open) and writes, in the files of `recording`:
//!
//! - each view once, without its events and checks (`state`);
//! - each event the view shows for the first time (`event`), and the canary's checks when they
//!   change (`checks`);
//! - a bounded sample of the receiver's traces, once each is complete (no span for
//!   [`SETTLE`]): per [`WINDOW`] of time, its failing traces (at most [`FAILING`]) and its
//!   slowest [`SLOWEST`], plus every trace a finished canary links to; at most
//!   `recording::MAX_TRACE_BYTES` in all.
//!
//! Stopped (the task dropped when `up` stops), it writes `end` and syncs.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::canary::model::Check;
use crate::traces::hop::MeshNames;
use crate::traces::model::TraceId;
use crate::traces::query::summarize;
use crate::traces::store::{Store, Trace};

use super::events::{now_ms, EventView};
use super::recording::{Line, RecordedTrace, Writer, MAX_TRACE_BYTES};
use super::view::View;

/// A trace is complete when no span came for this long (the exporters flush every 500 ms).
const SETTLE: u64 = 3_000;
/// The traces of each 10 s are sampled together.
const WINDOW: u64 = 10_000;
const FAILING: usize = 5;
const SLOWEST: usize = 2;

#[derive(Default)]
struct Bucket {
    failing: Vec<Trace>,
    /// (duration, trace), longest first.
    slowest: Vec<(f64, Trace)>,
}

/// The recorder's state; writes `end` when dropped.
struct Recorder {
    w: Writer,
    names: MeshNames,
    last_event_ms: u64,
    /// The events of `last_event_ms` already written.
    last_events: HashSet<(String, String)>,
    last_checks: Vec<Check>,
    cursor: u64,
    buckets: BTreeMap<u64, Bucket>,
    recorded: HashSet<TraceId>,
    capped: bool,
    failed: bool,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // The windows not over yet keep what they sampled so far.
        for b in std::mem::take(&mut self.buckets).into_values() {
            for t in b.failing.iter().chain(b.slowest.iter().map(|(_, t)| t)) {
                self.trace(t);
            }
        }
        let _ = self.w.session.append(&Line::End { at_ms: now_ms() });
        let _ = self.w.session.sync();
        let _ = self.w.traces.sync();
    }
}

impl Recorder {
    /// A write failed (a full disk): say it once; the mesh runs on.
    fn wrote(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r {
            if !self.failed {
                eprintln!("kyc-mesh: --record: {e}; the recording stops here");
            }
            self.failed = true;
        }
    }

    fn view(&mut self, v: &View, store: Option<&Store>) {
        if self.failed || v.updated_ms == 0 {
            return;
        }
        // Events, oldest first, that this recording has not seen.
        let mut fresh: Vec<&EventView> = v
            .events
            .iter()
            .filter(|e| {
                e.at_ms > self.last_event_ms
                    || (e.at_ms == self.last_event_ms
                        && !self.last_events.contains(&(e.kind.clone(), e.text.clone())))
            })
            .collect();
        fresh.reverse();
        for e in fresh {
            if e.at_ms > self.last_event_ms {
                self.last_event_ms = e.at_ms;
                self.last_events.clear();
            }
            self.last_events.insert((e.kind.clone(), e.text.clone()));
            let r = self.w.session.append(&Line::Event { event: e.clone() });
            self.wrote(r);
        }
        if v.checks != self.last_checks {
            self.last_checks = v.checks.clone();
            let line = Line::Checks {
                at_ms: v.updated_ms,
                checks: v.checks.clone(),
            };
            let r = self.w.session.append(&line);
            self.wrote(r);
        }
        let mut state = v.clone();
        state.events.clear();
        state.checks.clear();
        let line = Line::State {
            at_ms: v.updated_ms,
            view: serde_json::to_value(&state).unwrap_or_default(),
        };
        let r = self.w.session.append(&line);
        self.wrote(r);
        // The traces a finished canary links to are kept whatever the sample.
        if let (Some(store), Some(links)) =
            (store, v.canary.as_ref().and_then(|c| c.traces.as_ref()))
        {
            let ids: Vec<TraceId> = links
                .failing
                .iter()
                .chain(&links.slowest)
                .filter_map(|l| l.trace_id.parse().ok())
                .collect();
            for id in ids {
                if let Some(t) = store.get(&id) {
                    self.trace(&t);
                }
            }
        }
    }

    fn trace(&mut self, t: &Trace) {
        if self.failed || self.capped || !self.recorded.insert(t.id) {
            return;
        }
        if self.w.traces.bytes >= MAX_TRACE_BYTES {
            self.capped = true;
            let note = EventView {
                at_ms: now_ms(),
                kind: "recording".into(),
                text: format!(
                    "the recording's traces reached {} MiB: no more traces are recorded",
                    MAX_TRACE_BYTES >> 20
                ),
                bad: true,
            };
            let r = self.w.session.append(&Line::Event { event: note });
            self.wrote(r);
            return;
        }
        let line = RecordedTrace {
            spans: t.spans.clone(),
            logs: t.logs.clone(),
        };
        let r = self.w.traces.append(&line);
        self.wrote(r);
    }

    /// Take the complete traces from `store` into their windows; write the windows that are over.
    fn sample(&mut self, store: &Store) {
        let now = now_ms();
        let (complete, next) = store.settled_after(self.cursor, now.saturating_sub(SETTLE));
        self.cursor = next;
        for t in complete {
            let Some(s) = summarize(&t, &self.names, None) else {
                continue;
            };
            let b = self.buckets.entry(s.start_ms / WINDOW).or_default();
            if s.error {
                if b.failing.len() < FAILING {
                    b.failing.push(t);
                }
            } else {
                b.slowest.push((s.duration_ms, t));
                b.slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
                b.slowest.truncate(SLOWEST);
            }
        }
        let over: Vec<u64> = self
            .buckets
            .keys()
            .copied()
            .filter(|b| (b + 1) * WINDOW + 2 * SETTLE < now)
            .collect();
        for key in over {
            if let Some(b) = self.buckets.remove(&key) {
                for t in b.failing.iter().chain(b.slowest.iter().map(|(_, t)| t)) {
                    self.trace(t);
                }
            }
        }
    }
}

/// Record until dropped (aborted with the dashboard's tasks when `up` stops).
pub(super) async fn run(
    w: Writer,
    mut views: watch::Receiver<Arc<View>>,
    store: Option<Arc<Store>>,
    names: MeshNames,
) {
    let mut r = Recorder {
        w,
        names,
        last_event_ms: 0,
        last_events: HashSet::new(),
        last_checks: Vec::new(),
        cursor: 0,
        buckets: BTreeMap::new(),
        recorded: HashSet::new(),
        capped: false,
        failed: false,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            changed = views.changed() => {
                if changed.is_err() {
                    return;
                }
                let v = views.borrow_and_update().clone();
                r.view(&v, store.as_deref());
            }
            _ = tick.tick() => {
                if let Some(s) = &store {
                    r.sample(s);
                }
                let sync = r.w.session.sync().and_then(|()| r.w.traces.sync());
                r.wrote(sync);
            }
        }
    }
}
