//! What makes `up` reload: it watches networking/ (recursively: scenarios/ too), the
//! directory of a scenario file outside it, and its state directory — there only the
//! `scenario` file that `kyc-mesh use` writes; `up`'s own files (`weights.json`,
//! `applied-scenario`, the xDS directory, the control socket) are not changes of the
//! configuration. It starts before the first read, so no edit is missed between that read
//! and the loop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::config::Change;
use super::error::UpError;

pub(super) struct Watch {
    watcher: RecommendedWatcher,
    /// networking/, then the state directory.
    watched: Vec<PathBuf>,
    state_dir: PathBuf,
    /// The directory of a scenario file outside networking/, while one is in force.
    parent: Option<PathBuf>,
    changes: mpsc::UnboundedReceiver<Change>,
}

/// The change an event of the watcher is (`None`: `up`'s own files).
fn classify(event: &notify::Event, state_dir: &Path) -> Option<Change> {
    if matches!(event.kind, notify::EventKind::Access(_)) {
        return None;
    }
    if event.paths.is_empty() || event.need_rescan() {
        return Some(Change::Files);
    }
    let mut change = None;
    for p in &event.paths {
        let in_state_dir = p.parent() == Some(state_dir) || p == state_dir;
        if !in_state_dir {
            return Some(Change::Files);
        }
        if p.file_name()
            .is_some_and(|n| n == crate::scenario::STATE_FILE)
        {
            change = Some(Change::StateFile);
        }
    }
    change
}

impl Watch {
    /// Watch `networking` (recursively); [`Watch::watch_state_dir`] adds `state_dir` once
    /// it exists.
    pub(super) fn start(networking: &Path, state_dir: &Path) -> Result<Watch, UpError> {
        let (tx, changes) = mpsc::unbounded_channel();
        let state = state_dir.to_path_buf();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Some(change) = ev.ok().and_then(|ev| classify(&ev, &state)) {
                let _ = tx.send(change);
            }
        })?;
        watcher
            .watch(networking, RecursiveMode::Recursive)
            .map_err(|source| UpError::Watch {
                path: networking.to_path_buf(),
                source,
            })?;
        Ok(Watch {
            watcher,
            watched: vec![networking.to_path_buf()],
            state_dir: state_dir.to_path_buf(),
            parent: None,
            changes,
        })
    }

    /// Also watch the state directory (its own files only: not the xDS directory inside).
    pub(super) fn watch_state_dir(&mut self) -> Result<(), UpError> {
        let dir = self.state_dir.clone();
        self.watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| UpError::Watch {
                path: dir.clone(),
                source,
            })?;
        self.watched.push(dir);
        Ok(())
    }

    /// Also watch the directory of `scenario` when it lives outside networking/.
    pub(super) fn follow(&mut self, scenario: Option<&Path>) {
        let parent = scenario.and_then(|s| s.parent().map(Path::to_path_buf));
        if parent == self.parent {
            return;
        }
        if let Some(old) = self.parent.take() {
            if !self.watched.contains(&old) {
                let _ = self.watcher.unwatch(&old);
            }
        }
        if let Some(p) = &parent {
            if !self.watched.iter().any(|w| p.starts_with(w))
                && self.watcher.watch(p, RecursiveMode::NonRecursive).is_ok()
            {
                self.parent = Some(p.clone());
            }
        }
    }

    /// The first change of the next burst.
    pub(super) async fn recv(&mut self) -> Option<Change> {
        self.changes.recv().await
    }

    /// The burst one save produces, from its `first` change: until it is quiet for 150 ms,
    /// at most a second (a file written continuously cannot starve the loop). Any change of
    /// the files makes it a change of the files.
    pub(super) async fn settle(&mut self, first: Change) -> Change {
        let mut change = first;
        let quiet = Duration::from_millis(150);
        let until = tokio::time::Instant::now() + Duration::from_secs(1);
        while tokio::time::Instant::now() < until {
            match tokio::time::timeout(quiet, self.changes.recv()).await {
                Ok(Some(c)) => {
                    if c == Change::Files {
                        change = Change::Files;
                    }
                }
                _ => break,
            }
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, EventKind, ModifyKind, RenameMode};

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        e
    }

    #[test]
    fn only_networking_and_the_scenario_state_file_are_changes() {
        let state = Path::new("/state");
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        let create = EventKind::Create(CreateKind::File);
        assert_eq!(
            classify(&event(create, &["/net/a.yaml"]), state),
            Some(Change::Files)
        );
        assert_eq!(
            classify(
                &event(rename, &["/state/.scenario.tmp", "/state/scenario"]),
                state
            ),
            Some(Change::StateFile)
        );
        for own in [
            "/state/weights.json",
            "/state/.weights.json.tmp",
            "/state/applied-scenario",
            "/state/control.sock",
            "/state/xds-42",
        ] {
            assert_eq!(classify(&event(create, &[own]), state), None, "{own}");
        }
        let open = EventKind::Access(notify::event::AccessKind::Any);
        assert_eq!(classify(&event(open, &["/net/a.yaml"]), state), None);
        assert_eq!(classify(&event(create, &[]), state), Some(Change::Files));
    }
}
