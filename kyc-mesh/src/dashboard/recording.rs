//! A recording's files (`up --record DIR`, read by `kyc-mesh replay DIR`):
//!
//! - `meta.json`: written once when recording starts (atomically): the format, kyc-mesh's
//!   version, the start time, networking/, the names the waterfall labels hops with;
//! - `session.jsonl`: one JSON object per line, appended: `state` (the dashboard's view once
//!   a second, without its events and checks), `event` (each new event), `checks` (the
//!   canary's checks whenever they change), `end` (a clean stop);
//! - `traces.jsonl`: one sampled trace per line (spans and access-log lines, shown
//!   attributes only), appended, at most `MAX_TRACE_BYTES`.
//!
//! Crash-safe: every line is written whole with one `write` on a file opened for appending,
//! so a killed `up` (even SIGKILL) leaves every line written so far readable; the files are
//! `fsync`ed at most once a second and at a clean stop, so a machine that crashes loses at
//! most the last second. The reader skips a line it cannot read (a torn last line after a
//! crash) and counts it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::canary::model::Check;
use crate::traces::hop::MeshNames;
use crate::traces::model::{LogLine, Span};

use super::events::EventView;

/// The format `meta.json` says; a replay refuses another.
pub(super) const FORMAT: u32 = 1;
pub(super) const META: &str = "meta.json";
pub(super) const SESSION: &str = "session.jsonl";
pub(super) const TRACES: &str = "traces.jsonl";
/// The most `traces.jsonl` grows to (then traces are no longer recorded; the rest goes on).
pub(super) const MAX_TRACE_BYTES: u64 = 256 << 20;
/// How often the files are flushed to disk.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Why a recording cannot be made or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("--record {}: {source}", .dir.display())]
    Create {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--record {}: the directory already holds a recording (started {started}); choose a new or empty directory", .dir.display())]
    Exists { dir: PathBuf, started: String },
    #[error("--record {}: the directory is not empty; choose a new or empty directory", .dir.display())]
    NotEmpty { dir: PathBuf },
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a kyc-mesh recording ({error})", .path.display())]
    NotARecording { path: PathBuf, error: String },
    #[error("{}: recording format {found}, this kyc-mesh reads format {FORMAT}", .path.display())]
    Format { path: PathBuf, found: u32 },
}

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Meta {
    pub(super) format: u32,
    pub(super) kyc_mesh: String,
    /// Unix milliseconds.
    pub(super) started_ms: u64,
    pub(super) networking: String,
    /// The entry workload and each workload's version (the waterfall's labels).
    pub(super) entry: String,
    pub(super) versions: std::collections::BTreeMap<String, String>,
}

impl Meta {
    pub(super) fn names(&self) -> MeshNames {
        MeshNames {
            entry: self.entry.clone(),
            versions: self.versions.clone(),
        }
    }
}

/// One line of `session.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(super) enum Line {
    State {
        #[serde(rename = "atMs")]
        at_ms: u64,
        view: serde_json::Value,
    },
    Event {
        event: EventView,
    },
    Checks {
        #[serde(rename = "atMs")]
        at_ms: u64,
        checks: Vec<Check>,
    },
    /// `up` stopped and closed the recording.
    End {
        #[serde(rename = "atMs")]
        at_ms: u64,
    },
}

/// One line of `traces.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RecordedTrace {
    pub(super) spans: Vec<Span>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) logs: Vec<LogLine>,
}

/// An append-only JSON-lines file.
pub(super) struct Appender {
    file: File,
    pub(super) bytes: u64,
    synced: Instant,
    dirty: bool,
}

impl Appender {
    fn open(path: &Path) -> std::io::Result<Appender> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let bytes = file.metadata()?.len();
        Ok(Appender {
            file,
            bytes,
            synced: Instant::now(),
            dirty: false,
        })
    }

    /// Append `value` as one line (one `write`), and sync if a second has passed.
    pub(super) fn append<T: Serialize>(&mut self, value: &T) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.bytes += line.len() as u64;
        self.dirty = true;
        if self.synced.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    pub(super) fn sync(&mut self) -> std::io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        self.synced = Instant::now();
        Ok(())
    }
}

/// The two files of a recording being written.
pub(super) struct Writer {
    pub(super) session: Appender,
    pub(super) traces: Appender,
}

/// Start a recording in `dir` (created if missing; it must hold nothing else).
pub(super) fn create(dir: &Path, meta: &Meta) -> Result<Writer, RecordingError> {
    let err = |source| RecordingError::Create {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    if let Ok(m) = read_meta(dir) {
        return Err(RecordingError::Exists {
            dir: dir.to_path_buf(),
            started: crate::canary::report::utc(m.started_ms),
        });
    }
    if std::fs::read_dir(dir).map_err(err)?.next().is_some() {
        return Err(RecordingError::NotEmpty {
            dir: dir.to_path_buf(),
        });
    }
    let session = Appender::open(&dir.join(SESSION)).map_err(err)?;
    let traces = Appender::open(&dir.join(TRACES)).map_err(err)?;
    crate::files::write_json(&dir.join(META), meta).map_err(err)?;
    Ok(Writer { session, traces })
}

pub(super) fn read_meta(dir: &Path) -> Result<Meta, RecordingError> {
    let path = dir.join(META);
    let text = std::fs::read(&path).map_err(|source| RecordingError::Read {
        path: path.clone(),
        source,
    })?;
    let meta: Meta = serde_json::from_slice(&text).map_err(|e| RecordingError::NotARecording {
        path: path.clone(),
        error: e.to_string(),
    })?;
    if meta.format != FORMAT {
        return Err(RecordingError::Format {
            path,
            found: meta.format,
        });
    }
    Ok(meta)
}

/// Every line of `path` that reads as a `T`, and how many did not (a torn last line).
/// A missing file reads as empty.
pub(super) fn read_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(Vec<T>, usize), RecordingError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(source) => {
            return Err(RecordingError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    let mut bad = 0;
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(|source| RecordingError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(v) => out.push(v),
            Err(_) => bad += 1,
        }
    }
    Ok((out, bad))
}
