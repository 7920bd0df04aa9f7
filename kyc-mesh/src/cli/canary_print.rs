//! How the canary is shown: one line per check, the final summary, the reports (`--report-json`,
//! `--report-html`), and a
//! spinner while waiting (only on a terminal).

use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::canary::model::{CanaryStatus, Check, Phase, Verdict, VersionFigures};
use crate::canary::report::Report;
use crate::control::state::LoadStatus;

pub(super) fn phase(p: Phase) -> &'static str {
    match p {
        Phase::Progressing => "progressing",
        Phase::Paused => "paused",
        Phase::Promoted => "PROMOTED",
        Phase::RolledBack => "ROLLED BACK",
    }
}

fn short(host: &str) -> &str {
    host.rsplit('-').next().unwrap_or(host)
}

fn figures(f: &VersionFigures) -> String {
    let rate = f
        .success_rate
        .map_or("   -  ".into(), |r| format!("{r:5.1}%"));
    let p99 = f
        .p99_ms
        .map_or("-".into(), crate::canary::analysis::show_ms);
    format!(
        "{} {:>4} req {rate} ok p99 {p99}",
        short(&f.host),
        f.requests
    )
}

/// One check: `#3 canary 30% | basic … | advanced … | FAIL why | failed checks 1/2`.
pub(super) fn line(c: &Check, threshold: u32) -> String {
    let verdict = match c.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::NoData => "NO DATA",
    };
    format!(
        "#{:<2} canary {:>3}% | {} | {} | {verdict}: {} | failed checks {}/{threshold}",
        c.n,
        c.weight,
        figures(&c.stable),
        figures(&c.canary),
        c.reason,
        c.failed_checks
    )
}

/// Write `report` to `--report-json` and `--report-html` (each when asked), atomically; one
/// line per file written, or why not.
pub(super) fn write_reports(json: Option<&Path>, html: Option<&Path>, report: &Report) {
    if let Some(path) = json {
        match crate::files::write_json(path, report) {
            Ok(()) => println!("  report (JSON): {}", path.display()),
            Err(e) => eprintln!("kyc-mesh: report {}: {e}", path.display()),
        }
    }
    if let Some(path) = html {
        match crate::files::write_atomic(path, crate::canary::report::html(report)) {
            Ok(()) => println!("  report (HTML): {}", path.display()),
            Err(e) => eprintln!("kyc-mesh: report {}: {e}", path.display()),
        }
    }
}

/// A one-line spinner on a terminal, cleared before each printed line.
pub(super) struct Spinner {
    on: bool,
    frame: usize,
}

impl Spinner {
    pub(super) fn new() -> Self {
        Spinner {
            on: std::io::stdout().is_terminal(),
            frame: 0,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.on
    }

    pub(super) fn tick(&mut self, what: &str) {
        if !self.on {
            return;
        }
        const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
        self.frame = (self.frame + 1) % FRAMES.len();
        print!("\r\x1b[2K{} {what}", FRAMES[self.frame]);
        let _ = std::io::stdout().flush();
    }

    pub(super) fn println(&self, text: &str) {
        if self.on {
            print!("\r\x1b[2K");
        }
        println!("{text}");
    }
}

pub(super) fn summary(s: &CanaryStatus, checks: usize, load: Option<&LoadStatus>) -> Vec<String> {
    let who = match s.phase {
        Phase::Promoted => &s.canary,
        _ => &s.stable,
    };
    let mut out = vec![
        format!(
            "kyc-mesh canary: {} — {who} takes 100% of {}/{} ({checks} checks, {} failed)",
            phase(s.phase),
            s.spec.virtual_service,
            s.spec.route,
            s.failed_checks
        ),
        format!("  {}", s.message),
    ];
    if let Some(l) = load.filter(|l| l.sent > 0) {
        out.push(format!(
            "  load generator: {} sent, {} ok, {} failed ({} of them injected failures)",
            l.sent, l.ok, l.failed, l.injected
        ));
    }
    out
}
