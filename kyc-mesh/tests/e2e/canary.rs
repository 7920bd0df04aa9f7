//! `kyc-mesh canary` against real services behind a real Envoy (short intervals): a healthy
//! canary is promoted and only ADVANCED answers; a canary failing 30 % of attempts is rolled
//! back within `threshold` checks although the route retries; no traffic is "no data" and a
//! rollback; the `--pause-at` gate with promote and abort; Ctrl-C rolls back; the JSON report
//! matches the printed lines; the load generator sees no failure caused by the reloads.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::http::{client as http_client, count, tally};
use crate::helpers::mesh::cli;
use crate::helpers::mesh::Mesh;
use crate::helpers::{kyc_mesh, networking_copy, poll, repo_networking, ADVANCED, BASIC};
use crate::services::start_with;

/// A `kyc-mesh canary` client running against `mesh`, its stdout collected line by line.
struct Client {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
}

impl Client {
    fn start(mesh: &Mesh, args: &[&str]) -> Client {
        let mut child = Command::new(kyc_mesh())
            .arg("--networking")
            .arg(&mesh.networking)
            .args(["--admin-port", &mesh.admin.to_string()])
            .arg("--state-dir")
            .arg(mesh.state_dir.path())
            .arg("canary")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kyc-mesh canary");
        let out = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    out.lock().expect("lock").push(line);
                }
            });
        }
        Client { child, out }
    }

    fn lines(&self) -> Vec<String> {
        self.out.lock().expect("lock").clone()
    }

    fn wait_line(&self, needle: &str) {
        poll(
            &format!("{needle:?} from kyc-mesh canary"),
            Duration::from_secs(90),
            || {
                self.lines()
                    .iter()
                    .any(|l| l.contains(needle))
                    .then_some(())
            },
        );
    }

    fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let status = poll("kyc-mesh canary to exit", Duration::from_secs(120), || {
            self.child.try_wait().ok().flatten()
        });
        // The reader threads finish with the pipes.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.lines())
    }
}

/// Run a canary to its end, off the async runtime.
async fn canary(mesh: &Mesh, args: &[&str]) -> (ExitStatus, Vec<String>) {
    let client = Client::start(mesh, args);
    tokio::task::spawn_blocking(move || client.wait())
        .await
        .expect("join")
}

fn checks(lines: &[String]) -> Vec<&String> {
    let is_check = |l: &&String| {
        l.strip_prefix('#')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    };
    lines.iter().filter(is_check).collect()
}

/// `kyc-mesh canary`'s flags for a short run (one check per second, 50 % steps; also the
/// ambient tests').
pub(crate) const FAST: [&str; 6] = [
    "--interval",
    "1s",
    "--step-weight",
    "50",
    "--min-requests",
    "10",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_is_promoted_written_and_reported() {
    let envoy = require_envoy!();
    let net = networking_copy();
    let mesh = start_with(envoy, net.path().to_path_buf(), vec![], vec![]).await;
    let report = mesh.state_dir.path().join("report.json");
    let report_s = report.display().to_string();
    let mut args = FAST.to_vec();
    args.extend(["--load", "40", "--report", &report_s, "--write"]);
    let (status, lines) = canary(&mesh, &args).await;
    let text = lines.join("\n");
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("PROMOTED"), "{text}");
    // 50 %, then 100 %, then promotion: one line per check.
    let printed = checks(&lines);
    assert_eq!(printed.len(), 2, "{text}");
    assert!(printed[1].contains("canary 100%"), "{text}");
    // No request of the load generator failed while the weights moved three times.
    assert!(text.contains(" 0 failed (0 of them injected"), "{text}");
    // Only the advanced scorer answers now.
    let m = tally(&http_client(), &mesh.url("/kyc/v1/customer"), 30, &[]).await;
    assert_eq!(count(&m, ADVANCED), 30, "{m:?}");
    // The JSON report holds the printed checks' figures.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let reported = json["checks"].as_array().expect("checks");
    assert_eq!(reported.len(), printed.len());
    for (r, line) in reported.iter().zip(&printed) {
        let n = r["n"].as_u64().expect("n");
        let w = r["weight"].as_u64().expect("weight");
        let req = r["canary"]["requests"].as_u64().expect("requests");
        assert!(line.starts_with(&format!("#{n}")), "{line}");
        assert!(line.contains(&format!("canary {w:>3}%")), "{line} vs {r}");
        assert!(
            line.contains(&format!("advanced {req:>4} req")),
            "{line} vs {r}"
        );
    }
    assert_eq!(json["outcome"]["phase"], "promoted");
    // --write: the file now says 0/100, comments kept; the override is cleared.
    let file = std::fs::read_to_string(net.path().join("kyc-credit-check-istio-routing.yaml"))
        .expect("file");
    assert!(file.contains("# The canary."), "comments kept");
    let weights: Vec<&str> = file
        .lines()
        .filter(|l| l.trim().starts_with("weight:"))
        .collect();
    assert_eq!(
        weights,
        ["          weight: 0", "          weight: 100"],
        "{file}"
    );
    let out = cli(&mesh, &["canary", "status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert_eq!(status["phase"], "promoted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_rolls_back_despite_retries_and_no_traffic_is_no_data() {
    let envoy = require_envoy!();
    let mesh = start_with(envoy, repo_networking(), vec![], vec![]).await;
    let out = cli(&mesh, &["chaos", ADVANCED, "--error-rate", "0.3"]).await;
    assert!(out.status.success(), "{out:?}");
    let mut args = FAST.to_vec();
    args.extend(["--load", "40"]);
    let (status, lines) = canary(&mesh, &args).await;
    let text = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("ROLLED BACK"), "{text}");
    // Rolled back within `threshold` (2) checks, each failing on the success rate.
    let printed = checks(&lines);
    assert!(!printed.is_empty() && printed.len() <= 2, "{text}");
    assert!(
        printed.iter().any(|l| l.contains("FAIL: success rate")),
        "{text}"
    );
    let m = tally(&http_client(), &mesh.url("/kyc/v1/customer"), 30, &[]).await;
    assert_eq!(count(&m, BASIC), 30, "only BASIC after the rollback: {m:?}");
    // The outcome survives a scenario switch (the scenario sets 50/50 on the same route).
    let out = cli(&mesh, &["use", "canary-50-50"]).await;
    assert!(out.status.success(), "{out:?}");
    let m = tally(&http_client(), &mesh.url("/kyc/v1/customer"), 30, &[]).await;
    assert_eq!(count(&m, BASIC), 30, "the rollback survives `use`: {m:?}");
    // No traffic and no --load: no data, a failed check, then the rollback.
    let out = cli(&mesh, &["chaos", ADVANCED, "--off"]).await;
    assert!(out.status.success(), "{out:?}");
    let (status, lines) = canary(&mesh, &FAST).await;
    let text = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        checks(&lines)
            .iter()
            .all(|l| l.contains("NO DATA: no data")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_at_waits_for_promote_or_abort_and_ctrl_c_rolls_back() {
    let envoy = require_envoy!();
    let mesh = start_with(envoy, repo_networking(), vec![], vec![]).await;
    let mut args = FAST.to_vec();
    args.extend(["--load", "40", "--pause-at", "50"]);
    for (action, code, phase) in [("promote", 0, "PROMOTED"), ("abort", 1, "ROLLED BACK")] {
        let client = Client::start(&mesh, &args);
        let client = tokio::task::spawn_blocking(move || {
            client.wait_line("paused at 50%");
            client
        })
        .await
        .expect("join");
        // One canary at a time: a second start is refused, naming the running one.
        let (second, lines) = canary(&mesh, &FAST).await;
        assert_eq!(second.code(), Some(2));
        assert!(
            lines
                .join("\n")
                .contains("already runs on kyc-credit-check/credit-check-report"),
            "{lines:?}"
        );
        let out = cli(&mesh, &["canary", action]).await;
        assert!(out.status.success(), "{out:?}");
        let (status, lines) = tokio::task::spawn_blocking(move || client.wait())
            .await
            .expect("join");
        assert_eq!(status.code(), Some(code), "{lines:?}");
        assert!(lines.join("\n").contains(phase), "{lines:?}");
    }
    // Ctrl-C in the client: abort = rollback, exit 1.
    let client = Client::start(&mesh, &args);
    let client = tokio::task::spawn_blocking(move || {
        client.wait_line("#1");
        client
    })
    .await
    .expect("join");
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(client.child.id() as i32, libc::SIGINT);
    }
    let (status, lines) = tokio::task::spawn_blocking(move || client.wait())
        .await
        .expect("join");
    let text = lines.join("\n");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("Ctrl-C") && text.contains("ROLLED BACK"),
        "{text}"
    );
    let m = tally(&http_client(), &mesh.url("/kyc/v1/customer"), 20, &[]).await;
    assert_eq!(count(&m, BASIC), 20, "{m:?}");
}
