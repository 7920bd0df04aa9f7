//! networking/ is read once per configuration generation, counted as the kernel sees it: an
//! inotify watch on one file of a private copy of networking/ counts every `open(2)` of it,
//! with the real services and their sidecars (replicas, injection and translation all read
//! the one generation). A start opens it once, an edit of another file once (the reload),
//! `set-weights` never (clearing an override once), a `use` request once, `kyc-mesh use` once in `up` (and once in the
//! command itself, which checks the scenario before it writes the state file).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kyc_mesh::control::client::call;
use kyc_mesh::control::protocol::{Request, Response};

use crate::helpers::mesh::Mesh;
use crate::helpers::{networking_copy, scenario, ADVANCED, BASIC};
use crate::services::start_with;

const WAIT: Duration = Duration::from_secs(60);

/// Counts the opens of one file (inotify `IN_OPEN`), from its creation on. Closes are watched
/// too: the kernel merges an event into an identical one still queued (two opens in a row),
/// never into a different one (open, close, open).
struct Opens {
    fd: i32,
    seen: usize,
}

impl Opens {
    fn of(file: &Path) -> Opens {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(file.as_os_str().as_bytes()).expect("path");
        // SAFETY: plain syscalls on a descriptor this struct owns; `path` outlives the call.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(
            fd >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        let mask = libc::IN_OPEN | libc::IN_CLOSE_NOWRITE;
        let wd = unsafe { libc::inotify_add_watch(fd, path.as_ptr(), mask) };
        assert!(
            wd >= 0,
            "inotify_add_watch: {}",
            std::io::Error::last_os_error()
        );
        Opens { fd, seen: 0 }
    }

    /// Every open so far. The kernel queues the event inside `open(2)`: an open that
    /// happened before the answer or output the test waited for is already counted.
    fn count(&mut self) -> usize {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into a buffer of the given length.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return self.seen;
            }
            let mut at = 0;
            while at < n as usize {
                // SAFETY: the kernel writes whole `inotify_event`s (header + name) into `buf`.
                let event: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
                if event.mask & libc::IN_OPEN != 0 {
                    self.seen += 1;
                }
                at += std::mem::size_of::<libc::inotify_event>() + event.len as usize;
            }
        }
    }
}

impl Drop for Opens {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this struct owns.
        unsafe { libc::close(self.fd) };
    }
}

async fn ask(mesh: &Mesh, request: Request) {
    match call(mesh.state_dir.path(), request, WAIT).await {
        Ok(Response::Done { .. }) => {}
        other => panic!("{other:?}\n{}", mesh.output()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networking_is_read_once_per_generation() {
    let envoy = require_envoy!();
    let dir = networking_copy();
    // Only `kyc-mesh` opens this file; the test edits another one.
    let mut opens = Opens::of(&dir.path().join("default-namespace.yaml"));
    let mesh = start_with(envoy, dir.path().to_path_buf(), vec![], vec![]).await;
    assert_eq!(opens.count(), 1, "a start reads networking/ once");

    let routing = dir.path().join("kyc-credit-check-istio-routing.yaml");
    let text = std::fs::read_to_string(&routing).expect("read");
    let edited =
        text.replacen("weight: 50", "weight: 80", 1)
            .replacen("weight: 50", "weight: 20", 1);
    std::fs::write(&routing, edited).expect("edit");
    mesh.wait_output("configuration reloaded into Envoy");
    assert_eq!(opens.count(), 2, "a reload reads networking/ once");

    let weights: BTreeMap<String, serde_json::Number> = [
        (BASIC.to_string(), 10.into()),
        (ADVANCED.to_string(), 90.into()),
    ]
    .into();
    let set = Request::SetWeights {
        virtual_service: "kyc-credit-check".into(),
        route: "credit-check-report".into(),
        weights: Some(weights),
    };
    ask(&mesh, set.clone()).await;
    assert_eq!(opens.count(), 2, "set-weights reads nothing");
    let clear = Request::SetWeights {
        virtual_service: "kyc-credit-check".into(),
        route: "credit-check-report".into(),
        weights: None,
    };
    ask(&mesh, clear).await;
    assert_eq!(
        opens.count(),
        3,
        "clearing reads networking/ once (what the files say now applies)"
    );
    ask(&mesh, set).await;
    assert_eq!(opens.count(), 3, "set-weights reads nothing");

    let canary = scenario("canary-90-10.yaml").display().to_string();
    ask(
        &mesh,
        Request::Use {
            scenario: Some(canary),
        },
    )
    .await;
    assert_eq!(opens.count(), 4, "a use request reads networking/ once");

    let out = mesh.use_scenario("none");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        opens.count(),
        6,
        "kyc-mesh use: once in the command, once in up\n{}",
        mesh.output()
    );
    // Nothing read behind the answers (the state files up writes are not changes).
    ask(&mesh, Request::State).await;
    assert_eq!(opens.count(), 6);
}
