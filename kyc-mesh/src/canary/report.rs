//! The canary's report (issue 19): one value ([`Report`]) written as JSON (`--report-json`, the
//! dashboard's `report.json`, for CI) or as one self-contained HTML file (`--report-html`, the
//! dashboard's download): inline CSS and SVG, no script, no network (its own
//! Content-Security-Policy says so), readable offline and attachable to a change request. It
//! holds the parameters, the weight over time, success rate and p99 per version per interval
//! with the thresholds drawn, each check's verdict, the outcome and why, the failing and
//! slowest traces, and the YAML to commit.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::load::LoadStatus;
use super::model::{CanarySpec, CanaryStatus, Check, Phase, TraceLink, Verdict, VersionFigures};

/// The YAML to commit: where, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Yaml {
    /// The networking/ file that holds the VirtualService, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<String>,
    pub(crate) text: String,
}

/// Everything a report shows. As JSON it is `--report-json`'s document: the parameters, every
/// check, the outcome (with its trace links), the load generator's counters and the YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    pub(crate) spec: CanarySpec,
    pub(crate) checks: Vec<Check>,
    pub(crate) outcome: CanaryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) load: Option<LoadStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) yaml: Option<Yaml>,
    /// Unix milliseconds.
    pub(crate) generated_ms: u64,
}

/// Text for HTML (content and attribute values).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn phase_text(p: Phase) -> &'static str {
    match p {
        Phase::Progressing => "in progress",
        Phase::Paused => "paused",
        Phase::Promoted => "promoted",
        Phase::RolledBack => "rolled back",
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::NoData => "NO DATA",
    }
}

/// `2026-01-02 03:04:05 UTC`.
pub(crate) fn utc(ms: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.format(f).unwrap_or_default()
}

fn short(host: &str) -> &str {
    host.strip_prefix("kyc-credit-check-").unwrap_or(host)
}

const STABLE: &str = "#5a7bd8";
const CANARY: &str = "#9a5ad8";
const LIMIT: &str = "#d64545";

/// A chart: x from 0 to `x_max` seconds, y from `y_min` to `y_max`.
struct Plot {
    title: &'static str,
    unit: &'static str,
    x_max: f64,
    y_min: f64,
    y_max: f64,
    svg: String,
}

const W: f64 = 640.0;
const H: f64 = 210.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;

impl Plot {
    fn new(title: &'static str, unit: &'static str, x_max: f64, y_min: f64, y_max: f64) -> Plot {
        let y_max = if y_max > y_min { y_max } else { y_min + 1.0 };
        let mut p = Plot {
            title,
            unit,
            x_max: x_max.max(1.0),
            y_min,
            y_max,
            svg: String::new(),
        };
        p.axes();
        p
    }

    fn x(&self, t: f64) -> f64 {
        LEFT + (W - LEFT - RIGHT) * (t / self.x_max)
    }

    fn y(&self, v: f64) -> f64 {
        let v = v.clamp(self.y_min, self.y_max);
        TOP + (H - TOP - BOTTOM) * (1.0 - (v - self.y_min) / (self.y_max - self.y_min))
    }

    fn axes(&mut self) {
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
        let _ = write!(
            self.svg,
            r##"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="#fbfcfd" stroke="#c9d1da"/>"##,
            x1 - x0,
            y1 - y0
        );
        for v in ticks(self.y_min, self.y_max) {
            let y = self.y(v);
            let _ = write!(
                self.svg,
                r##"<line x1="{x0}" x2="{x1}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e8ee"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
                x0 - 5.0,
                y + 4.0,
                tick(v)
            );
        }
        for t in ticks(0.0, self.x_max) {
            let x = self.x(t);
            let _ = write!(
                self.svg,
                r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
                y1 + 15.0,
                tick(t)
            );
        }
        let _ = write!(
            self.svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">seconds since the canary started</text>"##,
            (x0 + x1) / 2.0,
            H - 3.0
        );
    }

    fn threshold(&mut self, v: f64, label: &str) {
        let y = self.y(v);
        let _ = write!(
            self.svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{LIMIT}" stroke-width="1.5" stroke-dasharray="6 4" data-threshold="{v}"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="limit">{}</text>"##,
            W - RIGHT,
            W - RIGHT - 4.0,
            y - 4.0,
            esc(label)
        );
    }

    /// A line through `points` (gaps where a value is missing), with a dot on each.
    fn series(&mut self, points: &[(f64, Option<f64>)], colour: &str, name: &str) {
        let mut d = String::new();
        let mut pen_down = false;
        for (t, v) in points {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        self.x(*t),
                        self.y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            self.svg,
            r##"<path d="{}" fill="none" stroke="{colour}" stroke-width="2" data-series="{}"/>"##,
            d.trim_end(),
            esc(name)
        );
        for (t, v) in points {
            if let Some(v) = v {
                let _ = write!(
                    self.svg,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: {} {} at {} s</title></circle>"##,
                    self.x(*t),
                    self.y(*v),
                    esc(name),
                    tick(*v),
                    self.unit,
                    tick(*t)
                );
            }
        }
    }

    fn finish(self, id: &str, description: &str) -> String {
        format!(
            r##"<figure><figcaption>{title}</figcaption><svg id="{id}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>{svg}</svg></figure>"##,
            title = esc(self.title),
            desc = esc(description),
            svg = self.svg
        )
    }
}

/// A round step (1, 2, 2.5 or 5 × 10ⁿ) giving about five ticks over `span`.
fn step(span: f64) -> f64 {
    let raw = (span / 5.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let r = raw / magnitude;
    let nice = if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 2.5 {
        2.5
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The round values from `lo` to `hi`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let s = step(hi - lo);
    let mut v = (lo / s).ceil() * s;
    let mut out = Vec::new();
    while v <= hi + s * 1e-9 && out.len() < 20 {
        out.push(v);
        v += s;
    }
    out
}

/// `v` rounded up to the next tick of `0..v`.
fn round_up(v: f64) -> f64 {
    let s = step(v);
    (v / s).ceil() * s
}

fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 0.05 {
        format!("{}", v.round())
    } else {
        format!("{v:.1}")
    }
}

fn legend(stable: &str, canary: &str, limit: &str) -> String {
    format!(
        r##"<p class="legend"><span style="background:{STABLE}"></span>stable {} <span style="background:{CANARY}"></span>canary {} <span class="dash"></span>{}</p>"##,
        esc(short(stable)),
        esc(short(canary)),
        esc(limit)
    )
}

/// `(t, value)` per check, `t` the end of its interval in seconds.
fn per_check(r: &Report, f: impl Fn(&Check) -> Option<f64>) -> Vec<(f64, Option<f64>)> {
    let interval = r.spec.interval_ms as f64 / 1000.0;
    r.checks
        .iter()
        .map(|c| (f64::from(c.n) * interval, f(c)))
        .collect()
}

fn weight_chart(r: &Report) -> String {
    let interval = r.spec.interval_ms as f64 / 1000.0;
    let n = r.checks.last().map_or(0, |c| c.n);
    let end = f64::from(n) * interval;
    let finished = r.outcome.phase.is_final();
    let x_max = if finished { end + interval / 2.0 } else { end }.max(interval);
    let mut p = Plot::new("Canary weight over time (%)", "%", x_max, 0.0, 100.0);
    let mut d = String::new();
    for c in &r.checks {
        let t0 = f64::from(c.n - 1) * interval;
        let t1 = f64::from(c.n) * interval;
        let y = p.y(f64::from(c.weight));
        let _ = write!(
            d,
            "{}{:.1},{y:.1} L{:.1},{y:.1} ",
            if d.is_empty() { "M" } else { "L" },
            p.x(t0),
            p.x(t1)
        );
    }
    if finished {
        let y = p.y(f64::from(r.outcome.weight));
        let _ = write!(
            d,
            "{}{:.1},{y:.1} L{:.1},{y:.1}",
            if d.is_empty() { "M" } else { "L" },
            p.x(end),
            p.x(x_max)
        );
    }
    let _ = write!(
        p.svg,
        r##"<path d="{}" fill="none" stroke="{CANARY}" stroke-width="2.5" data-series="weight"/>"##,
        d.trim_end()
    );
    for c in &r.checks {
        let (fill, what) = match c.verdict {
            Verdict::Pass => ("#1f9d55", "passed"),
            Verdict::Fail => (LIMIT, "failed"),
            Verdict::NoData => (LIMIT, "had no data"),
        };
        let _ = write!(
            p.svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4.5" fill="{fill}" data-verdict="{}"><title>check {} at {}%: {what}</title></circle>"##,
            p.x(f64::from(c.n) * interval),
            p.y(f64::from(c.weight)),
            verdict_text(c.verdict),
            c.n,
            c.weight
        );
    }
    let desc = format!(
        "{} checks; the canary ended at {}% ({})",
        r.checks.len(),
        r.outcome.weight,
        phase_text(r.outcome.phase)
    );
    p.finish("weight", &desc)
        + r#"<p class="legend"><span class="ok"></span>check passed <span class="bad"></span>check failed or had no data</p>"#
}

fn rate_chart(r: &Report) -> String {
    let stable = per_check(r, |c| c.stable.success_rate);
    let canary = per_check(r, |c| c.canary.success_rate);
    let min_seen = stable
        .iter()
        .chain(&canary)
        .filter_map(|(_, v)| *v)
        .fold(r.spec.min_success_rate, f64::min);
    let y_min = ((min_seen - 5.0) / 5.0).floor().max(0.0) * 5.0;
    let x_max = stable.last().map_or(1.0, |(t, _)| *t);
    let mut p = Plot::new(
        "Success rate per version per interval (%)",
        "%",
        x_max,
        y_min.min(95.0),
        100.0,
    );
    p.threshold(
        r.spec.min_success_rate,
        &format!("minimum {}%", r.spec.min_success_rate),
    );
    p.series(&stable, STABLE, "stable");
    p.series(&canary, CANARY, "canary");
    p.finish(
        "success",
        "the canary's and the stable version's success rate at each check, and the minimum",
    ) + &legend(
        &r.outcome.stable,
        &r.outcome.canary,
        &format!("threshold: {}%", r.spec.min_success_rate),
    )
}

fn p99_chart(r: &Report) -> String {
    let stable = per_check(r, |c| c.stable.p99_ms);
    let canary = per_check(r, |c| c.canary.p99_ms);
    let max_seen = stable
        .iter()
        .chain(&canary)
        .filter_map(|(_, v)| *v)
        .fold(r.spec.max_p99_ms, f64::max);
    let x_max = stable.last().map_or(1.0, |(t, _)| *t);
    let mut p = Plot::new(
        "p99 latency per version per interval (ms)",
        "ms",
        x_max,
        0.0,
        round_up(max_seen * 1.1),
    );
    p.threshold(
        r.spec.max_p99_ms,
        &format!("maximum {} ms", r.spec.max_p99_ms),
    );
    p.series(&stable, STABLE, "stable");
    p.series(&canary, CANARY, "canary");
    p.finish(
        "p99",
        "the canary's and the stable version's p99 at each check, and the maximum",
    ) + &legend(
        &r.outcome.stable,
        &r.outcome.canary,
        &format!("threshold: {} ms", r.spec.max_p99_ms),
    )
}

fn cells(f: &VersionFigures) -> String {
    let rate = f.success_rate.map_or("–".into(), |v| format!("{v:.1}%"));
    let p99 = f.p99_ms.map_or("–".into(), super::analysis::show_ms);
    format!(
        r#"<td class="num">{}</td><td class="num">{rate}</td><td class="num">{}</td>"#,
        f.requests,
        esc(&p99)
    )
}

fn checks_table(r: &Report) -> String {
    let mut rows = String::new();
    for c in &r.checks {
        let class = if c.verdict == Verdict::Pass {
            "pass"
        } else {
            "fail"
        };
        let _ = write!(
            rows,
            r#"<tr data-check="{n}"><td class="num">{n}</td><td class="num">{w}%</td>{s}{c2}<td class="{class}">{v}</td><td>{why}</td><td class="num">{f}/{t}</td></tr>"#,
            n = c.n,
            w = c.weight,
            s = cells(&c.stable),
            c2 = cells(&c.canary),
            v = verdict_text(c.verdict),
            why = esc(&c.reason),
            f = c.failed_checks,
            t = r.spec.threshold
        );
    }
    if r.checks.is_empty() {
        rows.push_str(r#"<tr><td colspan="11">no check was made</td></tr>"#);
    }
    format!(
        r#"<table class="checks"><thead><tr><th rowspan="2">#</th><th rowspan="2">canary weight</th><th colspan="3">stable {}</th><th colspan="3">canary {}</th><th rowspan="2">verdict</th><th rowspan="2">why</th><th rowspan="2">failed</th></tr><tr><th>requests</th><th>success</th><th>p99</th><th>requests</th><th>success</th><th>p99</th></tr></thead><tbody>{rows}</tbody></table>"#,
        esc(short(&r.outcome.stable)),
        esc(short(&r.outcome.canary))
    )
}

fn parameters(s: &CanarySpec) -> String {
    let mut rows = vec![
        (
            "VirtualService / route",
            format!("{} / {}", s.virtual_service, s.route),
        ),
        ("step weight (stepWeight)", format!("{}%", s.step_weight)),
        ("promoted after (maxWeight)", format!("{}%", s.max_weight)),
        ("interval", format!("{} s", s.interval_ms as f64 / 1000.0)),
        (
            "failed checks before rollback (threshold)",
            s.threshold.to_string(),
        ),
        ("minimum success rate", format!("{}%", s.min_success_rate)),
        ("maximum p99", format!("{} ms", s.max_p99_ms)),
        ("minimum requests per interval", s.min_requests.to_string()),
    ];
    if let Some(r) = s.max_p99_ratio {
        rows.push(("maximum p99 / stable's p99", format!("{r}")));
    }
    if let Some(p) = s.pause_at {
        rows.push(("pause at", format!("{p}%")));
    }
    if let Some(l) = s.load_rps {
        rows.push(("load generator", format!("{l} requests/s")));
    }
    let body: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v)))
        .collect();
    format!(r#"<table class="params"><tbody>{body}</tbody></table>"#)
}

fn trace_rows(links: &[TraceLink], open_at: Option<&str>) -> String {
    links
        .iter()
        .map(|l| {
            let id = esc(&l.trace_id);
            let shown = match open_at {
                Some(base) => format!(r#"<a href="{}{id}">{id}</a>"#, esc(base)),
                None => format!("<code>{id}</code>"),
            };
            format!(
                r#"<tr data-trace="{id}"><td class="id">{shown}</td><td>{}</td><td class="num">{:.1} ms</td><td>{}</td><td>{}</td></tr>"#,
                esc(short(&l.host)),
                l.duration_ms,
                if l.error { "failed" } else { "ok" },
                utc(l.start_ms)
            )
        })
        .collect()
}

fn traces(r: &Report) -> String {
    let Some(t) = &r.outcome.traces else {
        return "<p>No trace links: the mesh ran without its local trace receiver (<code>--no-traces</code>, or <code>OTEL_EXPORTER_OTLP_ENDPOINT</code> sent spans elsewhere), or the run has not ended.</p>".into();
    };
    let open = t.open_at.as_deref();
    let head = r#"<thead><tr><th>trace id</th><th>version</th><th>on the route</th><th>outcome</th><th>started</th></tr></thead>"#;
    let hint = match open {
        Some(base) => format!(
            "<p>Each id opens its waterfall in the dashboard ({}), while that <code>kyc-mesh up</code> runs and keeps the trace.</p>",
            esc(base.trim_end_matches("#trace="))
        ),
        None => "<p>Open an id in the dashboard's trace list, or <code>GET /api/traces/&lt;id&gt;</code>.</p>".into(),
    };
    let table = |title: &str, links: &[TraceLink], id: &str| {
        if links.is_empty() {
            format!("<h3>{title}</h3><p>none</p>")
        } else {
            format!(
                r#"<h3>{title}</h3><table class="traces" id="{id}">{head}<tbody>{}</tbody></table>"#,
                trace_rows(links, open)
            )
        }
    };
    format!(
        "{hint}{}{}",
        table("Failing traces", &t.failing, "failing"),
        table("Slowest traces", &t.slowest, "slowest")
    )
}

const STYLE: &str = r#"
body { margin: 0 auto; max-width: 1000px; padding: 18px 24px 40px; color: #1d2530; background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; }
h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 16px; margin: 26px 0 8px; border-bottom: 1px solid #dde2e8; padding-bottom: 3px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
.muted { color: #66717f; }
.outcome { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; }
.outcome.promoted { background: #1f9d55; } .outcome.rolled-back { background: #d64545; } .outcome.progressing, .outcome.paused { background: #55606d; }
.summary { font-size: 15px; margin: 10px 0; padding: 10px 14px; background: #f4f6f8; border-left: 4px solid #55606d; }
.summary.rolled-back { border-color: #d64545; } .summary.promoted { border-color: #1f9d55; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { text-align: left; padding: 3px 7px; border-bottom: 1px solid #dde2e8; vertical-align: top; }
th { color: #3a4654; font-weight: 600; } td.num { text-align: right; white-space: nowrap; }
td.pass { color: #1f9d55; font-weight: 600; } td.fail { color: #d64545; font-weight: 600; }
table.params { width: auto; } table.params th { font-weight: normal; color: #66717f; }
figure { margin: 12px 0 0; } figcaption { font-weight: 600; font-size: 13px; }
svg { width: 100%; height: auto; max-width: 760px; display: block; font: 11px system-ui, sans-serif; }
svg .tick { fill: #66717f; } svg .axis { fill: #66717f; } svg .limit { fill: #d64545; font-weight: 600; }
.legend { font-size: 12px; color: #3a4654; margin: 2px 0 0; }
.legend span { display: inline-block; width: 14px; height: 4px; margin: 0 4px 2px 10px; vertical-align: middle; }
.legend span.dash { border-top: 2px dashed #d64545; height: 0; } .legend span.ok { background: #1f9d55; height: 9px; width: 9px; border-radius: 50%; }
.legend span.bad { background: #d64545; height: 9px; width: 9px; border-radius: 50%; }
pre { background: #f4f6f8; padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 12.5px; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
footer { margin-top: 30px; color: #66717f; font-size: 12px; }
"#;

/// The report as one self-contained HTML document.
pub(crate) fn html(r: &Report) -> String {
    let o = &r.outcome;
    let phase = phase_text(o.phase);
    let class = match o.phase {
        Phase::Promoted => "promoted",
        Phase::RolledBack => "rolled-back",
        Phase::Progressing => "progressing",
        Phase::Paused => "paused",
    };
    let (winner, share) = match o.phase {
        Phase::Promoted => (&o.canary, 100),
        Phase::RolledBack => (&o.stable, 100),
        Phase::Progressing | Phase::Paused => (&o.stable, 100 - o.weight.min(100)),
    };
    let failed = r
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .count();
    let load = r.load.filter(|l| l.sent > 0).map_or(String::new(), |l| {
        format!(
            "<h2>Load generator</h2><p>{} requests sent: {} answered OK, {} failed ({} of them failures injected by chaos).</p>",
            l.sent, l.ok, l.failed, l.injected
        )
    });
    let yaml = match &r.yaml {
        Some(y) => format!(
            "<h2>The YAML to commit</h2><p>The weights {} are a runtime override; to keep them, commit this{} (or rerun with <code>--write</code>):</p><pre id=\"yaml\">{}</pre>",
            if o.phase.is_final() { "the run left" } else { "in force" },
            y.file
                .as_deref()
                .map_or(String::new(), |f| format!(" in <code>{}</code>", esc(f))),
            esc(&y.text)
        ),
        None => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="kyc-mesh {version}">
<title>Canary {phase}: {canary} on {vs}/{route}</title>
<style>{STYLE}</style></head>
<body>
<h1>Canary report <span class="outcome {class}" id="outcome">{phase}</span></h1>
<p class="muted">{vs}/{route}: stable {stable} → canary {canary} · generated {generated} by kyc-mesh {version}</p>
<p class="summary {class}" id="reason"><strong>{winner_short} takes {winner_weight}% of the traffic.</strong> {message}<br>{n} checks, {failed} failed or without data (threshold {threshold}).</p>
<h2>Weight and figures</h2>
{weight}
{rate}
{p99}
<h2>Checks</h2>
{checks}
<h2>Traces</h2>
{traces}
{yaml}
{load}
<h2>Parameters</h2>
{params}
<footer>A self-contained file: no script, nothing loaded from the network. Made by <code>kyc-mesh canary --report-html</code> or the dashboard's download.</footer>
</body></html>
"#,
        version = env!("CARGO_PKG_VERSION"),
        phase = phase,
        class = class,
        vs = esc(&r.spec.virtual_service),
        route = esc(&r.spec.route),
        stable = esc(&o.stable),
        canary = esc(&o.canary),
        generated = utc(r.generated_ms),
        winner_short = esc(winner),
        winner_weight = share,
        message = esc(&o.message),
        n = r.checks.len(),
        failed = failed,
        threshold = r.spec.threshold,
        weight = weight_chart(r),
        rate = rate_chart(r),
        p99 = p99_chart(r),
        checks = checks_table(r),
        traces = traces(r),
        yaml = yaml,
        load = load,
        params = parameters(&r.spec),
    )
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
