//! `spec.replicas` on the local mesh (real services, real Envoys): every instance is an
//! endpoint of every cluster that targets its workload, outlier detection ejects the one that
//! fails, `chaos --instance` picks one, supervision and `rollout restart` act per instance,
//! and `status`, the status file and the Prometheus targets name the instances.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::helpers::browser::{rendered_dom, token};
use crate::helpers::http::{client, dashboard_state};
use crate::helpers::load::Load;
use crate::helpers::mesh::{alive, cli, text, Mesh};
use crate::helpers::{free_port, networking_copy, poll_async, repo_networking, scenario, ADVANCED};
use crate::prometheus::prometheus_binary;
use crate::services::start_real;

const POD0: &str = "kyc-credit-check-advanced-0";
const POD1: &str = "kyc-credit-check-advanced-1";
/// The gateway's cluster for the advanced scorer's subset (what the route targets).
const V2: &str = "cluster.outbound|8080|v2|kyc-credit-check-advanced.default.svc.cluster.local";

async fn start(
    envoy: std::path::PathBuf,
    networking: std::path::PathBuf,
    scenario: Option<std::path::PathBuf>,
    up_args: Vec<String>,
) -> Mesh {
    start_real(envoy, networking, scenario, vec![], up_args).await
}

/// One GET: its status and the instance that answered (`x-kyc-served-by:
/// service/version/instance`).
async fn answer(c: &reqwest::Client, url: &str) -> (u16, String) {
    match c.get(url).send().await {
        Ok(r) => {
            let by = r
                .headers()
                .get("x-kyc-served-by")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('/').next())
                .unwrap_or("")
                .to_string();
            (r.status().as_u16(), by)
        }
        Err(_) => (0, String::new()),
    }
}

/// `n` GETs: how many each instance answered with 200, and the failures under "HTTP <status>".
/// 40 requests: both instances answer at least 5 of them (round robin spreads them).
async fn both_serve(c: &reqwest::Client, url: &str, what: &str) {
    let m = spread(c, url, 40).await;
    assert!(
        m.get(POD0).copied().unwrap_or(0) >= 5 && m.get(POD1).copied().unwrap_or(0) >= 5,
        "{what}: {m:?}"
    );
}

async fn spread(c: &reqwest::Client, url: &str, n: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let (status, by) = answer(c, url).await;
        let key = if status == 200 {
            by
        } else {
            format!("HTTP {status}")
        };
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

/// The app pid of instance `pod` from `up`'s status file.
fn pid_of(mesh: &Mesh, pod: &str) -> Option<u32> {
    let s = kyc_mesh::status::read(mesh.state_dir.path())?;
    s.workloads
        .iter()
        .flat_map(|w| &w.pods)
        .find(|p| p.name == pod)?
        .instance
        .as_ref()
        .map(|i| i.pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlier_detection_ejects_the_one_failing_replica_and_the_errors_stop() {
    let envoy = require_envoy!();
    // With the dashboard and Prometheus: both show the instances.
    let (dashboard, prometheus) = (free_port(), free_port());
    let up_args = vec![
        "--dashboard-port".to_string(),
        dashboard.to_string(),
        "--prometheus-port".to_string(),
        prometheus.to_string(),
        "--prometheus".to_string(),
        prometheus_binary().display().to_string(),
    ];
    let mesh = start(
        envoy,
        repo_networking(),
        Some(scenario("outlier-detection.yaml")),
        up_args,
    )
    .await;
    let c = client();
    let url = mesh.url("/credit-check/advanced?demo=alice");
    // Both instances, each behind its own sidecar, serve: round robin across them.
    both_serve(&c, &url, "both instances serve").await;
    // `status` and the status file: one row per instance, each with its own sidecar.
    let status = text(&cli(&mesh, &["status"]).await);
    assert!(
        status.contains(POD0) && status.contains(POD1) && status.contains("replicas 2"),
        "{status}"
    );
    let s = kyc_mesh::status::read(mesh.state_dir.path()).expect("status file");
    let advanced = s
        .workloads
        .iter()
        .find(|w| w.name == ADVANCED)
        .expect("advanced");
    let inbounds: Vec<u16> = advanced.pods.iter().map(|p| p.port).collect();
    let admins: Vec<u16> = advanced
        .pods
        .iter()
        .filter_map(|p| p.sidecar.as_ref().map(|s| s.admin))
        .collect();
    assert_eq!(inbounds.len(), 2, "{advanced:?}");
    assert_eq!(
        inbounds[0], advanced.port,
        "instance 0 keeps the contract port"
    );
    assert_eq!(admins.len(), 2, "{advanced:?}");
    assert_ne!(admins[0], admins[1]);
    // The aggregator's own calls (its sidecar's outbound) reach both instances too.
    let out = cli(
        &mesh,
        &[
            "curl",
            "--from",
            "kyc-aggregator-mgt",
            "http://kyc-credit-check-advanced:8080/credit-check/advanced?demo=alice",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    // The dashboard: advanced "2/2" (ready/total instances).
    poll_async(
        "the dashboard showing 2/2",
        Duration::from_secs(30),
        || async {
            let view = dashboard_state(dashboard).await?;
            let node = view["nodes"]
                .as_array()?
                .iter()
                .find(|n| n["id"] == ADVANCED)?
                .clone();
            (node["instances"] == serde_json::json!({"ready": 2, "total": 2})).then_some(())
        },
    )
    .await;
    // Prometheus scrapes each instance, labelled with its name.
    let promql = format!("up{{job=\"kyc-services\",app=\"{ADVANCED}\"}}");
    let query = format!("http://127.0.0.1:{prometheus}/api/v1/query");
    let pods = poll_async(
        "Prometheus scraping both instances",
        Duration::from_secs(60),
        || async {
            let r = c
                .get(&query)
                .query(&[("query", &promql)])
                .send()
                .await
                .ok()?;
            let body: serde_json::Value = r.json().await.ok()?;
            let mut pods: Vec<String> = body["data"]["result"]
                .as_array()?
                .iter()
                .filter(|s| s["value"][1] == "1")
                .filter_map(|s| s["metric"]["pod"].as_str().map(String::from))
                .collect();
            pods.sort();
            (pods.len() == 2).then_some(pods)
        },
    )
    .await;
    assert_eq!(pods, [POD0, POD1]);

    // Choosing an instance that does not exist: exit 2 naming the ones that do.
    let out = cli(
        &mesh,
        &["chaos", ADVANCED, "--instance", "7", "--error-rate", "1"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(POD0) && text(&out).contains(POD1),
        "{}",
        text(&out)
    );
    let out = cli(&mesh, &["chaos", ADVANCED, "--pod", "basic-0", "--off"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // The dashboard's chaos control picks an instance the same way (`?instance=`, with the
    // page's token): an unknown one is a 400 naming it, with the CLI's text.
    let dash = format!("http://127.0.0.1:{dashboard}");
    let page = c.get(format!("{dash}/")).send().await.expect("page");
    let token = token(&page.text().await.expect("page text"));
    let chaos = |query: &'static str, body: &'static str| {
        c.put(format!("{dash}/api/chaos/{ADVANCED}{query}"))
            .header("X-KYC-Token", &token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let r = chaos("?instance=7", r#"{"errorRate":1}"#)
        .await
        .expect("chaos");
    assert_eq!(r.status(), 400);
    let refused: serde_json::Value = r.json().await.expect("json");
    assert_eq!(refused["field"], "instance", "{refused}");
    let why = refused["error"].as_str().unwrap_or_default();
    assert!(why.contains(POD0) && why.contains(POD1), "{refused}");

    // Instance 1 fails every request (chaos from the dashboard): its 503s reach the client
    // (no retries), until the gateway's outlier detection ejects it; then every answer is
    // instance 0's 200.
    let r = chaos("?instance=1", r#"{"errorRate":1}"#)
        .await
        .expect("chaos");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let errors = Cell::new(0);
    let ejections = format!("{V2}.outlier_detection.ejections_active");
    poll_async(
        "the gateway ejecting the failing instance",
        Duration::from_secs(30),
        || async {
            let (status, _) = answer(&c, &url).await;
            if status == 503 {
                errors.set(errors.get() + 1);
            }
            (mesh.stat(&ejections).await >= 1).then_some(())
        },
    )
    .await;
    assert!(
        errors.get() >= 1,
        "the failing instance's errors were seen first"
    );
    let in_a_row = Cell::new(0);
    let seen = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let done = kyc_mesh::apply::admin::poll(
        Duration::from_secs(20),
        Duration::from_millis(25),
        || async {
            let (status, by) = answer(&c, &url).await;
            *seen
                .borrow_mut()
                .entry(format!("{status} {by}"))
                .or_insert(0) += 1;
            let ok = status == 200 && by == POD0;
            in_a_row.set(if ok { in_a_row.get() + 1 } else { 0 });
            (in_a_row.get() >= 50).then_some(())
        },
    )
    .await;
    assert!(
        done.is_some(),
        "no 50 answers in a row from instance 0: {:?}\n{}",
        seen.borrow(),
        mesh.output()
    );
    assert_eq!(
        mesh.stat(&ejections).await,
        1,
        "one of two (maxEjectionPercent 50)"
    );
    // The dashboard shows it: "1 of 2 ejected" on advanced v2, and an ejection event.
    let view = poll_async(
        "the dashboard showing the ejection",
        Duration::from_secs(20),
        || async {
            let view = dashboard_state(dashboard).await?;
            let version = view["versions"]
                .as_array()?
                .iter()
                .find(|v| v["host"] == ADVANCED)?
                .clone();
            let logged = view["events"].as_array()?.iter().any(|e| {
                e["kind"] == "outlier-ejection"
                    && e["text"].as_str().is_some_and(|t| {
                        t.starts_with(&format!("{ADVANCED} v2: 1 instance ejected"))
                    })
            });
            (version["ejected"] == 1 && logged).then_some(view)
        },
    )
    .await;
    let node = view["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == ADVANCED))
        .expect("advanced node");
    assert_eq!(node["ejected"], 1, "{node}");
    let dom = rendered_dom(&format!("{dash}/")).await;
    assert!(
        dom.contains("1 of 2 ejected") && dom.contains("data-ejected=\"1\""),
        "the graph marks the ejection"
    );
    assert!(dom.contains("· 1 ejected"), "and the versions table");
    assert!(
        dom.contains(&format!("value=\"{POD1}\"")),
        "the chaos control offers each instance"
    );

    // The ejected instance is killed: supervision restarts it (its chaos remembered), while
    // instance 0 keeps serving every request.
    let old = pid_of(&mesh, POD1).expect("instance 1 runs");
    // SAFETY: kill(2) on a child of our child.
    unsafe {
        libc::kill(old as i32, libc::SIGKILL);
    }
    let m = spread(&c, &url, 20).await;
    assert_eq!(m.get(POD0), Some(&20), "{m:?}");
    let restarted = format!("instance {POD1}) and ready");
    poll_async("instance 1 restarted", Duration::from_secs(30), || async {
        mesh.output().contains(&restarted).then_some(())
    })
    .await;
    let new = pid_of(&mesh, POD1).expect("instance 1 runs again");
    assert_ne!(new, old);
    assert!(!alive(old));
    let out = cli(&mesh, &["chaos", ADVANCED, "--off"]).await;
    assert!(out.status.success(), "{}", text(&out));

    // Live scaling under load, as `kubectl apply` of another `replicas`: back to networking/
    // alone (1 replica) stops instance 1 and its sidecar; the scenario again starts a new one.
    let load = Load::start(&vec![url.clone(); 2]);
    let sidecar_1 = advanced.pods[1].sidecar.as_ref().map(|s| s.admin);
    let out = cli(&mesh, &["use", "none"]).await;
    assert!(out.status.success(), "{}", text(&out));
    poll_async("instance 1 removed", Duration::from_secs(30), || async {
        mesh.output()
            .contains(&format!("{POD1} removed (drained and stopped)"))
            .then_some(())
    })
    .await;
    assert_eq!(pid_of(&mesh, POD1), None);
    let sidecar_gone = reqwest::get(format!("http://127.0.0.1:{}/ready", sidecar_1.unwrap_or(0)))
        .await
        .is_err();
    assert!(sidecar_gone, "instance 1's sidecar stopped");
    let out = cli(&mesh, &["use", "outlier-detection"]).await;
    assert!(out.status.success(), "{}", text(&out));
    // A start under the whole suite's load: the app ready, its sidecar listening, every Envoy
    // told (each confirmed). Once timed out at 30 s with a busy loop beside the suite; the
    // message now carries the mesh's output.
    let started = kyc_mesh::apply::admin::poll(
        Duration::from_secs(60),
        Duration::from_millis(25),
        || async {
            mesh.output()
                .contains(&format!("{POD1} started on"))
                .then_some(())
        },
    )
    .await;
    assert!(
        started.is_some(),
        "timed out waiting for instance 1 started again:\n{}",
        mesh.output()
    );
    load.flows_on("load after scaling", 20).await;
    load.stop_without_failures("scaling 2 → 1 → 2 under load", &mesh.output())
        .await;
    both_serve(&c, &url, "the new instance 1 serves").await;

    // `rollout restart` of two replicas, each behind its own sidecar, under load (no retries
    // in this scenario to hide a failure): one instance at a time, nothing fails.
    let load = Load::start(&vec![url.clone(); 2]);
    load.flows_on("load before the rollout", 20).await;
    let old = [pid_of(&mesh, POD0), pid_of(&mesh, POD1)];
    let out = cli(&mesh, &["rollout", "restart", ADVANCED]).await;
    assert!(out.status.success(), "{}\n{}", text(&out), mesh.output());
    load.flows_on("load after the rollout", 20).await;
    load.stop_without_failures(
        "rollout restart of 2 replicas with sidecars under load",
        &mesh.output(),
    )
    .await;
    let new = [pid_of(&mesh, POD0), pid_of(&mesh, POD1)];
    assert!(new[0] != old[0] && new[1] != old[1], "{old:?} → {new:?}");
    both_serve(&c, &url, "both new instances serve").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sidecars_the_gateway_spreads_over_replicas_and_a_rollout_fails_nothing() {
    let dir = networking_copy();
    let file = dir.path().join("kyc-credit-check-advanced-k8-istio.yml");
    let yaml = std::fs::read_to_string(&file).expect("read");
    assert!(yaml.contains("replicas: 1"));
    std::fs::write(&file, yaml.replacen("replicas: 1", "replicas: 2", 1)).expect("write");
    let envoy = require_envoy!();
    let mesh = start(
        envoy,
        dir.path().to_path_buf(),
        None,
        vec!["--no-sidecars".into()],
    )
    .await;
    let c = client();
    let url = mesh.url("/credit-check/advanced?demo=alice");
    both_serve(&c, &url, "both instances serve").await;
    // Instance 0 is the app itself on the contract port; instance 1 elsewhere.
    let s = kyc_mesh::status::read(mesh.state_dir.path()).expect("status file");
    let advanced = s
        .workloads
        .iter()
        .find(|w| w.name == ADVANCED)
        .expect("advanced");
    assert_eq!(advanced.pods.len(), 2);
    assert_eq!(advanced.pods[0].port, advanced.port);
    assert!(advanced.pods.iter().all(|p| p.sidecar.is_none()));

    // `rollout restart` replaces one instance at a time: no failed request.
    let load = Load::start(&vec![url.clone(); 3]);
    poll_async("load running", Duration::from_secs(20), || async {
        (load.len() > 20).then_some(())
    })
    .await;
    let old = [pid_of(&mesh, POD0), pid_of(&mesh, POD1)];
    let out = cli(&mesh, &["rollout", "restart", ADVANCED]).await;
    assert!(out.status.success(), "{}\n{}", text(&out), mesh.output());
    assert!(
        text(&out).contains(POD0) && text(&out).contains(POD1),
        "{}",
        text(&out)
    );
    load.flows_on("load after the rollout", 20).await;
    load.stop_without_failures("rollout restart of 2 replicas under load", &mesh.output())
        .await;
    let new = [pid_of(&mesh, POD0), pid_of(&mesh, POD1)];
    assert!(new[0] != old[0] && new[1] != old[1], "{old:?} → {new:?}");
    // Both new instances serve.
    both_serve(&c, &url, "both instances serve").await;

    // A killed instance is restarted on its port and served again. No request meanwhile:
    // connection failures to the dead one would have outlier detection (networking/'s: 5 in
    // a row) eject it for 30 s, as in the cluster.
    let killed = new[1].expect("instance 1 runs");
    // SAFETY: kill(2) on a child of our child.
    unsafe {
        libc::kill(killed as i32, libc::SIGKILL);
    }
    poll_async("instance 1 restarted", Duration::from_secs(60), || async {
        pid_of(&mesh, POD1)
            .is_some_and(|p| p != killed)
            .then_some(())
    })
    .await;
    assert!(!alive(killed));
    poll_async(
        "instance 1 served again",
        Duration::from_secs(60),
        || async {
            let (status, by) = answer(&c, &url).await;
            (status == 200 && by == POD1).then_some(())
        },
    )
    .await;

    // Scaled to 0 by an edit: no instance, the route answers Envoy's 503 (a Service without
    // endpoints); `status` says so.
    let yaml = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, yaml.replacen("replicas: 2", "replicas: 0", 1)).expect("write");
    poll_async(
        "both instances removed",
        Duration::from_secs(60),
        || async {
            let out = mesh.output();
            (out.contains(&format!("{POD0} removed")) && out.contains(&format!("{POD1} removed")))
                .then_some(())
        },
    )
    .await;
    let r = c.get(&url).send().await.expect("GET");
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap_or_default();
    assert!(body.contains("no healthy upstream"), "{body}");
    let status = text(&cli(&mesh, &["status"]).await);
    assert!(status.contains("replicas: 0"), "{status}");
}
