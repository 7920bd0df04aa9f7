//! Child processes: each runs in its own process group (so a signal reaches everything
//! it started), its output is prefixed with its name, its exit is reported on a channel,
//! and stopping it is SIGTERM, then SIGKILL after 10 s.

mod backoff;
mod envoy_bin;

pub(crate) use backoff::{Backoff, RestartPolicy};
pub use envoy_bin::{find_envoy, EnvoyNotFound, ENVOY_INSTALL_HINT};

use std::sync::atomic::{AtomicUsize, Ordering};

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};

use crate::apply::admin::poll;

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("starting {name}: {source}")]
    Spawn {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} exited before it was ready ({status})")]
    ExitedEarly { name: String, status: String },
    #[error("{name} not ready at {url} within {timeout:?}")]
    NotReady {
        name: String,
        url: String,
        timeout: Duration,
    },
}

/// An exit report: (the process's [`Proc::id`], exit status text).
pub(crate) type Exit = (usize, String);

/// Ids of started processes, unique for the life of kyc-mesh (a restarted service gets a new one).
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

pub(crate) struct Proc {
    pub(crate) name: String,
    /// Names this process in [`Exit`] reports.
    pub(crate) id: usize,
    pub(crate) pid: Option<u32>,
    /// Asks the owning task to stop the child (SIGTERM, then SIGKILL after 10s).
    stop: Option<oneshot::Sender<()>>,
    /// Becomes Some(status text) when the process has exited.
    done: watch::Receiver<Option<String>>,
}

impl Proc {
    pub(crate) fn exited(&self) -> Option<String> {
        self.done.borrow().clone()
    }

    /// SIGTERM (SIGKILL after 10 s) and wait until it has exited; false if it did not
    /// within `timeout`.
    pub(crate) async fn stop(&mut self, timeout: Duration) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        wait_exit(self, timeout).await
    }
}

type Stream = Box<dyn tokio::io::AsyncRead + Unpin + Send>;

/// Copy a child's output, line by line, prefixed with its name: the complete lines of each read
/// go out in one write (a busy service's lines arrive in bursts; one write per line cost the
/// chain measurably, BENCHMARKS.md issue 20), a partial line waits for its end.
fn forward(name: &str, stream: Stream, is_err: bool) {
    let tag = format!("[{name}] ");
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut out = Vec::with_capacity(8 * 1024);
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let chunk = match reader.fill_buf().await {
                Ok([]) | Err(_) => break,
                Ok(chunk) => chunk,
            };
            let read = chunk.len();
            out.clear();
            relay_lines(&tag, &mut pending, chunk, &mut out);
            reader.consume(read);
            if !out.is_empty() {
                write_out(is_err, &out);
            }
        }
        if !pending.is_empty() {
            out.clear();
            relay_lines(&tag, &mut pending, b"\n", &mut out);
            write_out(is_err, &out);
        }
    });
}

/// Append to `out` every complete line of `pending` + `chunk`, each prefixed with `tag`; keep
/// the unfinished rest in `pending`. Invalid UTF-8 is passed through as it came.
fn relay_lines(tag: &str, pending: &mut Vec<u8>, chunk: &[u8], out: &mut Vec<u8>) {
    let mut rest = chunk;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        out.extend_from_slice(tag.as_bytes());
        out.append(pending);
        out.extend_from_slice(&rest[..=end]);
        rest = &rest[end + 1..];
    }
    pending.extend_from_slice(rest);
    // A child that never ends its line cannot make `up` hold its output without bound.
    if pending.len() > MAX_PENDING_LINE {
        out.extend_from_slice(tag.as_bytes());
        out.append(pending);
        out.push(b'\n');
    }
}

/// The longest unfinished line held back, in bytes; a longer one is written as it is.
const MAX_PENDING_LINE: usize = 64 * 1024;

fn write_out(is_err: bool, bytes: &[u8]) {
    use std::io::Write;
    // A closed terminal or a full disk loses the copy, never the child (its pipe keeps draining).
    let _ = if is_err {
        std::io::stderr().lock().write_all(bytes)
    } else {
        std::io::stdout().lock().write_all(bytes)
    };
}

/// Start a child in its own process group; its output is prefixed with its name and its
/// exit is reported on `exits` ([`Proc::id`], status).
pub(crate) fn spawn(
    name: &str,
    mut cmd: Command,
    exits: &mpsc::UnboundedSender<Exit>,
) -> Result<Proc, SuperviseError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to send SIGTERM to the
    // child if kyc-mesh dies without cleaning up (e.g. SIGKILL), so nothing is orphaned.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child: Child = cmd.spawn().map_err(|source| SuperviseError::Spawn {
        name: name.to_string(),
        source,
    })?;
    if let Some(s) = child.stdout.take() {
        forward(name, Box::new(s), false);
    }
    if let Some(s) = child.stderr.take() {
        forward(name, Box::new(s), true);
    }
    let pid = child.id();
    let index = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (done_tx, done) = watch::channel(None);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let exits = exits.clone();
    let task_name = name.to_string();
    tokio::spawn(async move {
        // This task alone owns (and reaps) the child, so the pid it signals can never
        // belong to another process: it is held (as a zombie at worst) until we wait.
        let status = tokio::select! {
            s = child.wait() => s,
            _ = stop_rx => {
                match child.try_wait() {
                    Ok(Some(s)) => Ok(s),
                    _ => {
                        signal_group(pid, libc::SIGTERM);
                        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                            Ok(s) => s,
                            Err(_) => {
                                eprintln!("kyc-mesh: {task_name} did not stop within 10s, killing it");
                                signal_group(pid, libc::SIGKILL);
                                child.wait().await
                            }
                        }
                    }
                }
            }
        };
        let status = match status {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        let _ = done_tx.send(Some(status.clone()));
        let _ = exits.send((index, status));
    });
    Ok(Proc {
        name: name.to_string(),
        id: index,
        pid,
        stop: Some(stop_tx),
        done,
    })
}

/// SIGHUP to child `pid` (a node proxy reads its configuration again). Its process group, as
/// for SIGTERM: only the child itself is in it.
pub(crate) fn hang_up(pid: u32) {
    signal_group(Some(pid), libc::SIGHUP);
}

/// kill(2) the process group of a child we have not reaped yet.
fn signal_group(pid: Option<u32>, sig: i32) {
    if let Some(pid) = pid {
        // SAFETY: plain kill(2) on the process group we created for this child.
        unsafe {
            libc::kill(-(pid as i32), sig);
        }
    }
}

async fn wait_exit(p: &mut Proc, timeout: Duration) -> bool {
    tokio::time::timeout(timeout, p.done.wait_for(|d| d.is_some()))
        .await
        .is_ok()
}

pub(crate) async fn stop_all(procs: &mut [Proc]) {
    // Gateway first (it is last in the list), then the services.
    for p in procs.iter_mut().rev() {
        if let Some(stop) = p.stop.take() {
            let _ = stop.send(());
        }
    }
    for p in procs.iter_mut() {
        if !wait_exit(p, Duration::from_secs(20)).await {
            eprintln!("kyc-mesh: {} may still be running", p.name);
        }
    }
}

/// Wait until `url` answers 200, failing early when the process exits.
pub(crate) async fn wait_ready(
    client: &reqwest::Client,
    p: &Proc,
    url: &str,
    timeout: Duration,
) -> Result<(), SuperviseError> {
    let ready = poll(timeout, Duration::from_millis(50), || async {
        if let Some(status) = p.exited() {
            return Some(Err(SuperviseError::ExitedEarly {
                name: p.name.clone(),
                status,
            }));
        }
        let ok = matches!(client.get(url).send().await, Ok(r) if r.status().as_u16() == 200);
        ok.then_some(Ok(()))
    })
    .await;
    ready.unwrap_or_else(|| {
        Err(SuperviseError::NotReady {
            name: p.name.clone(),
            url: url.to_string(),
            timeout,
        })
    })
}

#[cfg(test)]
mod relay_tests {
    use super::relay_lines;

    /// Feeding a stream in any chunks gives what one prefixed line per input line gives.
    fn relayed(chunks: &[&[u8]]) -> String {
        let (mut pending, mut out) = (Vec::new(), Vec::new());
        for c in chunks {
            relay_lines("[svc] ", &mut pending, c, &mut out);
        }
        assert!(
            pending.is_empty(),
            "a complete stream leaves nothing pending"
        );
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn every_line_prefixed_whatever_the_chunks() {
        let text = "one\ntwo\nthree\n";
        let expected = "[svc] one\n[svc] two\n[svc] three\n";
        assert_eq!(relayed(&[text.as_bytes()]), expected);
        for cut in 0..text.len() {
            let (a, b) = text.as_bytes().split_at(cut);
            assert_eq!(relayed(&[a, b]), expected, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(relayed(&bytes), expected);
    }

    #[test]
    fn an_unfinished_line_waits_and_an_endless_one_is_bounded() {
        let (mut pending, mut out) = (Vec::new(), Vec::new());
        relay_lines("[s] ", &mut pending, b"partial", &mut out);
        assert!(out.is_empty());
        relay_lines("[s] ", &mut pending, b" line\nnext", &mut out);
        assert_eq!(out, b"[s] partial line\n");
        assert_eq!(pending, b"next");
        out.clear();
        let long = vec![b'x'; super::MAX_PENDING_LINE + 1];
        relay_lines("[s] ", &mut pending, &long, &mut out);
        assert!(pending.is_empty());
        assert_eq!(out.len(), 4 + 4 + long.len() + 1);
    }
}
