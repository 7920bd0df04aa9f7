//! The configuration generations of the running mesh: the snapshot in force, and how the next
//! one is made — from the files when the watcher saw them change (one read), with other
//! weight overrides (no read), with an override cleared (one read: the files' weights as they
//! are on disk now), with another scenario (one read). A generation becomes the one
//! in force only once every Envoy took it ([`Config::commit`]); one that does not load or
//! translate is refused and the last good one stays. Every commit is published on a `watch`
//! channel: the dashboard reads the generation in force from it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use crate::scenario;
use crate::snapshot::{Accepted, Rejected, Snapshot, Sources};
use crate::topology::SidecarPlan;
use crate::weights::Overrides;

/// What the watcher saw change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// networking/ (or the directory of a scenario outside it).
    Files,
    /// Only the state directory's `scenario` file (`kyc-mesh use`, or `up` itself).
    StateFile,
}

/// A generation that translated, not yet applied.
pub(super) struct Candidate {
    pub(crate) snapshot: Arc<Snapshot>,
    pub(crate) accepted: Accepted,
}

/// What a reload found.
pub(super) enum Reload {
    /// Nothing to read: only `up`'s own writes, or the scenario it already runs.
    Unchanged,
    /// The files do not translate; `Some(text)` the first time this text is seen (report it).
    Refused(Option<String>),
    Next(Box<Candidate>),
}

pub(super) struct Config {
    sources: Sources,
    state_dir: PathBuf,
    /// The sidecars `up` runs (fixed for its life): what each generation is translated for.
    plan: SidecarPlan,
    current: Arc<Snapshot>,
    /// Why the files now on disk are refused (the generation in force is older).
    rejected: Option<Rejected>,
    last_error: Option<String>,
    last_skipped: Vec<String>,
    published: watch::Sender<Arc<Snapshot>>,
}

impl Config {
    /// In force: `first` (read from `sources`), translated for `plan`.
    pub(super) fn new(
        sources: Sources,
        first: Snapshot,
        plan: SidecarPlan,
        state_dir: &Path,
    ) -> Self {
        let current = Arc::new(first);
        let (published, _) = watch::channel(current.clone());
        Config {
            sources,
            state_dir: state_dir.to_path_buf(),
            plan,
            last_skipped: current.skipped.clone(),
            current,
            rejected: None,
            last_error: None,
            published,
        }
    }

    /// The generation in force.
    pub(super) fn current(&self) -> &Arc<Snapshot> {
        &self.current
    }

    /// Each generation in force, as it is committed.
    pub(super) fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.published.subscribe()
    }

    /// Why the files now on disk are refused, if they are.
    pub(super) fn rejected(&self) -> Option<&Rejected> {
        self.rejected.as_ref()
    }

    /// How many times networking/ was read.
    #[cfg(test)]
    pub(super) fn reads(&self) -> u64 {
        self.sources.reads()
    }

    fn candidate(&self, snapshot: Snapshot) -> Result<Candidate, Rejected> {
        let accepted = snapshot.translate(&self.plan)?;
        Ok(Candidate {
            snapshot: Arc::new(snapshot),
            accepted,
        })
    }

    /// The next generation after the watcher saw `change`: the files of networking/ and of
    /// the scenario in the state file, read once — or nothing to read when only the state
    /// directory changed and it names the scenario in force.
    pub(super) fn reload(&mut self, change: Change) -> Reload {
        let scenario = scenario::read_state(&self.state_dir);
        if change == Change::StateFile && scenario.as_deref() == self.current.scenario() {
            return Reload::Unchanged;
        }
        let next = self.read(scenario.as_deref(), self.current.overrides.clone());
        match next {
            Err(rejected) => {
                let text = rejected.to_string();
                let new = self.last_error.as_deref() != Some(text.as_str());
                self.rejected = Some(rejected);
                self.last_error = Some(text.clone());
                Reload::Refused(new.then_some(text))
            }
            Ok(candidate) => {
                self.rejected = None;
                self.last_error = None;
                Reload::Next(Box::new(candidate))
            }
        }
    }

    /// The overrides a reload skips, when they changed since the last one (report them).
    pub(super) fn newly_skipped(&mut self, snapshot: &Snapshot) -> Option<&[String]> {
        if snapshot.skipped == self.last_skipped {
            return None;
        }
        self.last_skipped = snapshot.skipped.clone();
        Some(&self.last_skipped)
    }

    /// The next generation with the files in force and other overrides: nothing is read.
    pub(super) fn with_overrides(&self, overrides: Overrides) -> Result<Candidate, Rejected> {
        let generation = self.current.generation + 1;
        self.candidate(self.current.with_overrides(generation, overrides))
    }

    /// The next generation with an override cleared: the files of the scenario in force read
    /// once, so the weights the files say *now* apply — also when a file was just written and
    /// the watcher has not yet seen it (`canary --write` writes, then clears).
    pub(super) fn with_override_cleared(
        &self,
        overrides: Overrides,
    ) -> Result<Candidate, Rejected> {
        self.read(self.current.scenario(), overrides)
    }

    /// The next generation with another scenario (read once), the overrides in force kept;
    /// not yet translated (`use` checks it for the edge first, then [`Config::translate`]).
    pub(super) fn with_scenario(&self, scenario: Option<&Path>) -> Result<Snapshot, Rejected> {
        let files = self.sources.read(scenario)?;
        Ok(Snapshot::new(
            self.current.generation + 1,
            Arc::new(files),
            self.current.overrides.clone(),
            self.current.ports,
        ))
    }

    /// Translate a generation made by [`Config::with_scenario`] for the running sidecars.
    pub(super) fn translate(&self, snapshot: Snapshot) -> Result<Candidate, Rejected> {
        self.candidate(snapshot)
    }

    fn read(&self, scenario: Option<&Path>, overrides: Overrides) -> Result<Candidate, Rejected> {
        let files = self.sources.read(scenario)?;
        let snapshot = Snapshot::new(
            self.current.generation + 1,
            Arc::new(files),
            overrides,
            self.current.ports,
        );
        self.candidate(snapshot)
    }

    /// Every Envoy took `snapshot`: it is the generation in force now.
    pub(super) fn commit(&mut self, snapshot: Arc<Snapshot>) {
        self.current = snapshot;
        self.published.send_replace(self.current.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::RouteRef;
    use crate::topology::Ports;
    use crate::weights::Weights;

    /// A copy of the repository's networking/ (with its scenarios) to edit.
    fn networking() -> tempfile::TempDir {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("scenarios")).expect("mkdir");
        for sub in ["", "scenarios"] {
            for e in std::fs::read_dir(src.join(sub)).expect("dir").flatten() {
                if e.path().is_file() {
                    let to = dir.path().join(sub).join(e.file_name());
                    std::fs::copy(e.path(), to).expect("copy");
                }
            }
        }
        dir
    }

    #[test]
    fn each_generation_reads_networking_once_at_most() {
        let net = networking();
        let state = tempfile::tempdir().expect("tmp");
        let sources = Sources::new(net.path());
        // Start: one read.
        let first = sources.snapshot(None, Ports::default()).expect("loads");
        let mut config = Config::new(sources, first, SidecarPlan::default(), state.path());
        let published = config.subscribe();
        assert_eq!(config.reads(), 1, "start");
        // An edit of networking/: one read, and the next generation.
        let file = net.path().join("kyc-credit-check-istio-routing.yaml");
        let text = std::fs::read_to_string(&file).expect("read");
        std::fs::write(&file, text.replace("weight: 50", "weight: 50 # edited")).expect("edit");
        let Reload::Next(next) = config.reload(Change::Files) else {
            panic!("an edit makes the next generation");
        };
        assert_eq!(config.reads(), 2, "reload");
        assert_eq!(next.snapshot.generation, 2);
        config.commit(next.snapshot);
        assert_eq!(published.borrow().generation, 2, "published");
        // set-weights: no read.
        let route = RouteRef::new("kyc-credit-check", "credit-check-report");
        let mut overrides = config.current().overrides.clone();
        let w = Weights::split("kyc-credit-check-basic", "kyc-credit-check-advanced", 10)
            .expect("weights");
        overrides.set(&route, Some(&w));
        let next = config.with_overrides(overrides).expect("translates");
        assert_eq!(config.reads(), 2, "set-weights");
        config.commit(next.snapshot);
        // Clearing it: one read, so a file written just before (`canary --write`) applies at
        // once, not the weights of the last generation the watcher made.
        std::fs::write(
            &file,
            text.replacen("weight: 50", "weight: 0", 1)
                .replacen("weight: 50", "weight: 100", 1),
        )
        .expect("write");
        let mut cleared = config.current().overrides.clone();
        cleared.set(&route, None);
        let next = config.with_override_cleared(cleared).expect("translates");
        assert_eq!(config.reads(), 3, "clear");
        let r = next.snapshot.weighted_route(&route).expect("route");
        assert_eq!((r.overridden, r.destinations[1].weight), (false, 100));
        config.commit(next.snapshot);
        let mut overrides = config.current().overrides.clone();
        overrides.set(&route, Some(&w));
        let next = config.with_overrides(overrides).expect("translates");
        config.commit(next.snapshot);
        // `up`'s own writes in the state directory (weights.json, the scenario it runs): no read.
        std::fs::write(state.path().join("weights.json"), "{}").expect("write");
        assert!(matches!(
            config.reload(Change::StateFile),
            Reload::Unchanged
        ));
        crate::scenario::write_state(state.path(), None).expect("state");
        assert!(matches!(
            config.reload(Change::StateFile),
            Reload::Unchanged
        ));
        assert_eq!(config.reads(), 3, "own writes");
        // `kyc-mesh use` (the state file names another scenario): one read; the override stays.
        let scenario = net.path().join("scenarios/canary-90-10.yaml");
        crate::scenario::write_state(state.path(), Some(&scenario)).expect("state");
        let Reload::Next(next) = config.reload(Change::StateFile) else {
            panic!("a scenario switch");
        };
        assert_eq!(config.reads(), 4, "use");
        assert_eq!(next.snapshot.scenario(), Some(scenario.as_path()));
        let r = next.snapshot.weighted_route(&route).expect("route");
        assert_eq!((r.overridden, r.destinations[1].weight), (true, 10));
        config.commit(next.snapshot);
        // The dashboard's `use` request: one read.
        let next = config.with_scenario(None).expect("networking/ alone");
        config.translate(next).expect("translates");
        assert_eq!(config.reads(), 5, "use request");
        // A refused edit: read once, reported once, the last good generation stays.
        std::fs::write(&file, "kind: [").expect("break");
        assert!(matches!(
            config.reload(Change::Files),
            Reload::Refused(Some(_))
        ));
        assert!(matches!(
            config.reload(Change::Files),
            Reload::Refused(None)
        ));
        assert_eq!(config.reads(), 7);
        assert!(config.rejected().is_some());
        assert_eq!(config.current().generation, 6);
    }
}
