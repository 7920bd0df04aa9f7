//! A real Prometheus next to the local mesh: found (`KYC_PROMETHEUS_BIN`, or `prometheus` on PATH),
//! configured from the topology (each service's `/metrics` and Envoy's `/stats/prometheus`, every 2 s,
//! labelled with the workload's `app` and `version` from networking/), its data in the state directory.
//!
//! The services are scraped on their app instance's own port, never on the contract port (with
//! sidecars that is the sidecar's inbound, which refuses plaintext under mTLS STRICT), and every
//! sidecar on its admin `/stats/prometheus` (`proxy="sidecar"`). Instances move (a restart, a
//! `rollout restart`), so both jobs read `file_sd_configs` targets files `up` rewrites atomically
//! whenever its status changes ([`write_targets`]); the gateway's job is static.
//!
//! Envoy's cluster series name their subset cluster (`outbound|8080|v1|kyc-credit-check-basic…`); the
//! scrape copies its subset and host into `destination_version` and `destination_service_name`, Istio's
//! label names, so the local queries read like the cluster's (docs/observability.md). A
//! Service-level cluster (`outbound|8080||kyc-credit-check-basic…`, as HTTPRoute backends make) has no
//! subset: its `destination_version` is the one version of the pods its Service selects, as Istio
//! labels a destination by the workload that answered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::status::MeshStatus;
use crate::supervise::{self, Exit, Proc, SuperviseError};
use crate::topology::Topology;

/// Why the local Prometheus could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("cannot write the Prometheus configuration")]
    Yaml(#[source] serde_norway::Error),
    #[error("cannot write {}", .0.display())]
    Write(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Supervise(#[from] SuperviseError),
}

pub(crate) const DEFAULT_PORT: u16 = 9090;
pub(crate) const BIN_ENV: &str = "KYC_PROMETHEUS_BIN";
/// How to get one, in one line.
pub(crate) const INSTALL_HINT: &str =
    "kyc-mesh: no Prometheus (KYC_PROMETHEUS_BIN or `prometheus` on PATH); running without it \
(install: `sudo apt-get install prometheus` or `brew install prometheus`, then restart `up`)";
const SCRAPE_INTERVAL: &str = "2s";

/// The Prometheus `up` starts: none when `disabled`; otherwise [`find`], or none and the one-line hint.
pub(crate) fn choose(explicit: Option<&Path>, disabled: bool) -> Option<PathBuf> {
    if disabled {
        return None;
    }
    let found = find(explicit);
    if found.is_none() {
        eprintln!("{INSTALL_HINT}");
    }
    found
}

/// The targets file of the services' job (in `run/`: `up` watches the state directory's own
/// files only, so rewriting it does not wake `up`'s reload).
pub(crate) fn services_file(state_dir: &Path) -> PathBuf {
    state_dir.join("run").join("prometheus-services.json")
}

/// The targets file of the sidecars' job.
pub(crate) fn sidecars_file(state_dir: &Path) -> PathBuf {
    state_dir.join("run").join("prometheus-sidecars.json")
}

/// The targets file of the node proxies' job (ambient mode: their `/metrics`).
pub(crate) fn node_proxies_file(state_dir: &Path) -> PathBuf {
    state_dir.join("run").join("prometheus-node-proxies.json")
}

/// Rewrite the targets files from `up`'s status (labels from `topology`), each only when its
/// content changes, atomically (Prometheus never reads half a file). A workload behind a sidecar
/// with no running instance (waiting for its restart) has no service target meanwhile; without
/// a sidecar nor an instance (`--external-services`) its target is the contract port.
pub(crate) fn write_targets(
    state_dir: &Path,
    topology: &Topology,
    status: &MeshStatus,
) -> std::io::Result<()> {
    let mut services = Vec::new();
    let mut sidecars = Vec::new();
    for ws in &status.workloads {
        let Some(w) = topology.workloads.iter().find(|w| w.name == ws.name) else {
            continue;
        };
        let label = |k: &str| w.labels.get(k).cloned().unwrap_or_default();
        let labels = |pod: &str| {
            json!({"app": label("app"), "version": label("version"), "namespace": w.namespace,
                "pod": pod})
        };
        if ws.pods.is_empty() && ws.replicas > 0 {
            // Run elsewhere (`--external-services`): the contract port.
            let pod = crate::topology::Topology::pod_name(&ws.name, 0);
            services.push(
                json!({"targets": [format!("127.0.0.1:{}", ws.port)], "labels": labels(&pod)}),
            );
        }
        for pod in &ws.pods {
            if let Some(i) = &pod.instance {
                services.push(
                    json!({"targets": [format!("127.0.0.1:{}", i.port)], "labels": labels(&pod.name)}),
                );
            }
            if let Some(sc) = &pod.sidecar {
                let mut labels = labels(&pod.name);
                labels["proxy"] = json!("sidecar");
                sidecars.push(
                    json!({"targets": [format!("127.0.0.1:{}", sc.admin)], "labels": labels}),
                );
            }
        }
    }
    // Ambient mode: each waypoint's Envoy beside the sidecars (its `/stats/prometheus`), the
    // node proxy in its own job.
    let mut nodes = Vec::new();
    if let Some(a) = &status.ambient {
        for w in &a.waypoints {
            sidecars.push(json!({"targets": [format!("127.0.0.1:{}", w.admin)],
                "labels": {"app": w.name, "namespace": "default", "pod": format!("{}-0", w.name), "proxy": "waypoint"}}));
        }
        for n in &a.nodes {
            nodes.push(json!({"targets": [format!("127.0.0.1:{}", n.admin)],
                "labels": {"node": n.name, "proxy": "node-proxy"}}));
        }
    }
    replace_if_changed(&services_file(state_dir), &json!(services))?;
    replace_if_changed(&sidecars_file(state_dir), &json!(sidecars))?;
    replace_if_changed(&node_proxies_file(state_dir), &json!(nodes))
}

fn replace_if_changed(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    if std::fs::read(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::files::write_atomic(path, text)
}

/// Service name → the version of the pods it selects, for the Services whose pods all carry one
/// and the same `version` label (a Service over both versions has none).
pub(crate) fn service_versions(
    objects: &[crate::istio::Loaded],
    topology: &Topology,
) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    for o in objects {
        let crate::istio::Object::Service(service) = &o.object else {
            continue;
        };
        if service.spec.selector.is_empty() {
            continue;
        }
        let mut selected = topology
            .workloads
            .iter()
            .filter(|w| w.selected_by(&service.spec.selector))
            .map(|w| w.labels.get("version"));
        let Some(Some(first)) = selected.next() else {
            continue;
        };
        if selected.all(|v| v == Some(first)) {
            versions.insert(service.metadata.name.clone(), first.clone());
        }
    }
    versions
}

/// `explicit` (the flag or `KYC_PROMETHEUS_BIN`) if it is a file, else `prometheus` on PATH.
pub fn find(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return path.is_file().then(|| path.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
}

/// The scrape configuration: one job for the services (their app instances, from
/// [`services_file`], with the pod labels `app`, `version` and `namespace`), one for the sidecars'
/// admin (from [`sidecars_file`]), one for the gateway Envoy's admin `/stats/prometheus`, whose
/// cluster series get Istio's destination labels from the subset, or from `service_versions` for a
/// Service-level cluster (the sidecars' series get none: the queries of docs/observability.md read the gateway's).
pub(crate) fn config(
    admin_port: u16,
    service_versions: &BTreeMap<String, String>,
    state_dir: &Path,
) -> Result<String, PrometheusError> {
    let file_sd = |path: PathBuf| json!([{"files": [path.display().to_string()], "refresh_interval": SCRAPE_INTERVAL}]);
    let subset = |target: &str, group: &str| {
        json!({
            "source_labels": ["envoy_cluster_name"],
            "regex": r"outbound\|[0-9]+\|([^|]+)\|([^.|]+).*",
            "target_label": target,
            "replacement": group,
        })
    };
    let mut relabel = vec![
        subset("destination_version", "$1"),
        subset("destination_service_name", "$2"),
    ];
    for (service, version) in service_versions {
        // Service names are DNS labels ([a-z0-9-]): nothing to escape in the regex.
        let whole = |target: &str, value: &str| {
            json!({
                "source_labels": ["envoy_cluster_name"],
                "regex": format!(r"outbound\|[0-9]+\|\|{service}\..*"),
                "target_label": target,
                "replacement": value,
            })
        };
        relabel.push(whole("destination_version", version));
        relabel.push(whole("destination_service_name", service));
    }
    let doc = json!({
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "kyc-services",
                "metrics_path": "/metrics",
                "file_sd_configs": file_sd(services_file(state_dir)),
            },
            {
                "job_name": "kyc-sidecars",
                "metrics_path": "/stats/prometheus",
                "file_sd_configs": file_sd(sidecars_file(state_dir)),
            },
            {
                "job_name": "envoy",
                "metrics_path": "/stats/prometheus",
                "static_configs": [{
                    "targets": [format!("127.0.0.1:{admin_port}")],
                    "labels": {"app": "istio-ingressgateway"},
                }],
                "metric_relabel_configs": relabel,
            },
            {
                "job_name": "kyc-node-proxies",
                "metrics_path": "/metrics",
                "file_sd_configs": file_sd(node_proxies_file(state_dir)),
            },
        ],
    });
    serde_norway::to_string(&doc).map_err(PrometheusError::Yaml)
}

/// Writes the configuration into `state_dir`, starts Prometheus on 127.0.0.1:`port` with its data in
/// `state_dir/prometheus-data`, waits until it is ready. The process joins `procs` (stopped with the mesh).
pub(crate) async fn start(
    binary: &Path,
    port: u16,
    state_dir: &Path,
    config_text: &str,
    procs: &mut Vec<Proc>,
    exits: &mpsc::UnboundedSender<Exit>,
    ready_timeout: Duration,
) -> Result<usize, PrometheusError> {
    std::fs::create_dir_all(state_dir)?;
    let config_path = state_dir.join("prometheus.yml");
    crate::files::write_atomic(&config_path, config_text)
        .map_err(|e| PrometheusError::Write(config_path.clone(), e))?;
    let mut cmd = Command::new(binary);
    cmd.arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            state_dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn");
    procs.push(supervise::spawn("prometheus", cmd, exits)?);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .no_proxy()
        .build()?;
    let url = format!("http://127.0.0.1:{port}/-/ready");
    let prometheus = &procs[procs.len() - 1];
    supervise::wait_ready(&client, prometheus, &url, ready_timeout).await?;
    Ok(prometheus.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_and_envoy_are_scraped_with_their_labels() {
        let state = Path::new("/state");
        let text = config(9901, &BTreeMap::new(), state).expect("config");
        let doc: serde_json::Value = serde_norway::from_str(&text).expect("YAML");
        let jobs = &doc["scrape_configs"];
        assert_eq!(jobs[0]["job_name"], "kyc-services");
        assert_eq!(
            jobs[0]["file_sd_configs"][0]["files"][0],
            "/state/run/prometheus-services.json"
        );
        assert_eq!(jobs[1]["job_name"], "kyc-sidecars");
        assert_eq!(jobs[2]["job_name"], "envoy");
        assert_eq!(jobs[2]["metrics_path"], "/stats/prometheus");
        assert_eq!(jobs[2]["static_configs"][0]["targets"][0], "127.0.0.1:9901");
        assert_eq!(jobs[3]["job_name"], "kyc-node-proxies");
        assert_eq!(doc["global"]["scrape_interval"], "2s");
    }

    fn read(path: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).expect("targets")).expect("JSON")
    }

    #[test]
    fn targets_are_the_app_instances_and_the_sidecar_admins_with_their_labels() {
        let dir = tempfile::tempdir().expect("dir");
        let topology = Topology::new(&crate::topology::Ports::default());
        write_targets(
            dir.path(),
            &topology,
            &crate::status::fixture(&topology, Some(40000), true),
        )
        .expect("write");
        let services = read(&services_file(dir.path()));
        assert_eq!(services[0]["targets"][0], "127.0.0.1:40000");
        assert_eq!(services[2]["targets"][0], "127.0.0.1:40002");
        assert_eq!(services[2]["labels"]["app"], "kyc-credit-check-advanced");
        assert_eq!(services[2]["labels"]["version"], "v2");
        assert_eq!(services[2]["labels"]["namespace"], "default");
        assert_eq!(services[2]["labels"]["pod"], "kyc-credit-check-advanced-0");
        let sidecars = read(&sidecars_file(dir.path()));
        assert_eq!(sidecars[1]["targets"][0], "127.0.0.1:15001");
        assert_eq!(sidecars[1]["labels"]["proxy"], "sidecar");
        assert_eq!(sidecars[1]["labels"]["app"], "kyc-credit-check-basic");

        // Waiting for restarts behind sidecars: no service target; the sidecars stay.
        write_targets(
            dir.path(),
            &topology,
            &crate::status::fixture(&topology, None, true),
        )
        .expect("write");
        assert_eq!(read(&services_file(dir.path())), serde_json::json!([]));
        assert_eq!(
            read(&sidecars_file(dir.path())).as_array().map(Vec::len),
            Some(3)
        );

        // Services run elsewhere, no sidecars: their contract ports, no sidecar targets.
        write_targets(
            dir.path(),
            &topology,
            &crate::status::fixture(&topology, None, false),
        )
        .expect("write");
        assert_eq!(
            read(&services_file(dir.path()))[0]["targets"][0],
            "127.0.0.1:8080"
        );
        assert_eq!(read(&sidecars_file(dir.path())), serde_json::json!([]));
        assert_eq!(read(&node_proxies_file(dir.path())), serde_json::json!([]));

        // Ambient mode: the waypoint beside the sidecars, the node proxy in its own job.
        let mut ambient = crate::status::fixture(&topology, Some(40000), false);
        ambient.ambient = Some(crate::status::AmbientStatus {
            workloads: vec!["kyc-credit-check-basic".into()],
            nodes: vec![crate::status::NodeStatus {
                name: "node-1".into(),
                admin: 41000,
                pods: vec!["kyc-credit-check-basic-0".into()],
            }],
            hbone: Default::default(),
            outbound: Vec::new(),
            waypoints: vec![crate::status::WaypointStatus {
                name: "waypoint".into(),
                hbone: 41001,
                admin: 41002,
                spiffe: "spiffe://cluster.local/ns/default/sa/waypoint".into(),
            }],
        });
        write_targets(dir.path(), &topology, &ambient).expect("write");
        let sidecars = read(&sidecars_file(dir.path()));
        assert_eq!(sidecars[0]["targets"][0], "127.0.0.1:41002");
        assert_eq!(sidecars[0]["labels"]["proxy"], "waypoint");
        let nodes = read(&node_proxies_file(dir.path()));
        assert_eq!(nodes[0]["targets"][0], "127.0.0.1:41000");
        assert_eq!(nodes[0]["labels"]["proxy"], "node-proxy");
    }

    #[test]
    fn a_service_level_cluster_is_labelled_with_the_version_its_service_selects() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
        let scenario = root.join("scenarios/gateway-api.yaml");
        let s = crate::snapshot::Sources::new(&root)
            .snapshot(Some(&scenario), crate::topology::Ports::default())
            .expect("networking/ loads");
        let versions = service_versions(&s.objects, &s.topology);
        assert_eq!(
            versions.get("kyc-credit-check-basic").map(String::as_str),
            Some("v1")
        );
        assert_eq!(
            versions
                .get("kyc-credit-check-advanced")
                .map(String::as_str),
            Some("v2")
        );
        let text = config(9901, &versions, Path::new("/state")).expect("config");
        let doc: serde_json::Value = serde_norway::from_str(&text).expect("YAML");
        let rules = doc["scrape_configs"][2]["metric_relabel_configs"]
            .as_array()
            .expect("rules");
        let cluster = "outbound|8080||kyc-credit-check-advanced.default.svc.cluster.local";
        let version = rules
            .iter()
            .filter(|r| r["target_label"] == "destination_version")
            .filter(|r| {
                // Prometheus anchors relabel regexes (RE2; these use nothing RE2 and `regex` differ on).
                let re = format!("^(?:{})$", r["regex"].as_str().expect("regex"));
                regex::Regex::new(&re).expect("valid").is_match(cluster)
            })
            .map(|r| r["replacement"].as_str().expect("replacement"))
            .collect::<Vec<_>>();
        assert_eq!(version, ["v2"]);
    }

    #[test]
    fn an_explicit_binary_that_does_not_exist_is_not_found() {
        assert_eq!(find(Some(Path::new("/nonexistent/prometheus"))), None);
    }
}
