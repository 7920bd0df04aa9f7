//! networking/*.yaml against the real services: each Deployment's configuration is accepted by the
//! service's own configuration loader, the probes point at the port the service listens on, and the
//! probe paths answer 200 on the service's real router.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::Router;
use kyc_common::configuration::{EnvSource, ServiceSettings};
use kyc_common::testing::{get, send};
use serde::Deserialize;
use serde_norway::Value;

fn networking() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../networking")
}

fn documents(file: &str) -> Vec<Value> {
    let path = networking().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

/// The environment the container gets: ConfigMaps from `envFrom`, then literal `env` values.
fn container_env(docs: &[Value], container: &Value) -> HashMap<String, String> {
    let mut env = HashMap::new();
    for source in container["envFrom"].as_sequence().into_iter().flatten() {
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            let map = of_kind(docs, "ConfigMap", name)
                .unwrap_or_else(|| panic!("ConfigMap {name} is in the same file"));
            for (k, v) in map["data"].as_mapping().into_iter().flatten() {
                env.insert(
                    k.as_str().unwrap_or_default().to_owned(),
                    v.as_str().unwrap_or_default().to_owned(),
                );
            }
        }
    }
    for var in container["env"].as_sequence().into_iter().flatten() {
        if let (Some(name), Some(value)) = (var["name"].as_str(), var["value"].as_str()) {
            env.insert(name.to_owned(), value.to_owned());
        }
    }
    env
}

/// The service's real router and the port it would listen on, from the manifest's environment.
fn service(name: &str, env: HashMap<String, String>) -> (Router, u16) {
    let env = || EnvSource::Map(env.clone());
    match name {
        "kyc-aggregator-mgt" => {
            let s = kyc_aggregator_mgt::configuration::Settings::load_from(env())
                .expect("manifest config is valid");
            assert_eq!(
                s.gateway_url.as_str(),
                "http://istio-ingressgateway.istio-system.svc.cluster.local/",
                "the aggregator reaches the scorers through the in-cluster ingress gateway"
            );
            let app = kyc_aggregator_mgt::startup::app(
                kyc_aggregator_mgt::startup::state(&s).expect("state"),
            );
            (app, s.common.port)
        }
        "kyc-credit-check-basic" => {
            let s = kyc_credit_check_basic::configuration::Settings::load_from(env())
                .expect("manifest config is valid");
            let app = kyc_credit_check_basic::startup::app(
                kyc_credit_check_basic::startup::state(&s).expect("state"),
            );
            (app, s.common.port)
        }
        "kyc-credit-check-advanced" => {
            let s = kyc_credit_check_advanced::configuration::Settings::load_from(env())
                .expect("manifest config is valid");
            let app = kyc_credit_check_advanced::startup::app(
                kyc_credit_check_advanced::startup::state(&s).expect("state"),
            );
            (app, s.common.port)
        }
        other => panic!("unknown service {other}"),
    }
}

#[tokio::test]
async fn probes_hit_real_routes_on_the_port_the_service_listens_on() {
    for name in [
        "kyc-aggregator-mgt",
        "kyc-credit-check-basic",
        "kyc-credit-check-advanced",
    ] {
        let docs = documents(&format!("{name}-k8-istio.yml"));
        let deployment =
            of_kind(&docs, "Deployment", name).unwrap_or_else(|| panic!("Deployment {name}"));
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let (app, listen_port) = service(name, container_env(&docs, container));

        let port_of = |port: &Value| -> u64 {
            match port {
                Value::Number(n) => n.as_u64().unwrap_or_default(),
                Value::String(named) => container["ports"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .find(|p| p["name"] == named.as_str())
                    .and_then(|p| p["containerPort"].as_u64())
                    .unwrap_or_else(|| {
                        panic!("{name}: probe port `{named}` is not a container port")
                    }),
                _ => panic!("{name}: probe port missing"),
            }
        };
        let mut probes = 0;
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let http = &container[probe]["httpGet"];
            if http.is_null() {
                continue;
            }
            probes += 1;
            assert_eq!(
                port_of(&http["port"]),
                u64::from(listen_port),
                "{name} {probe} port"
            );
            let path = http["path"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} {probe} path"));
            let r = send(&app, get(path)).await;
            assert_eq!(r.status, StatusCode::OK, "{name} {probe} {path}");
        }
        assert!(probes >= 2, "{name} has readiness and liveness probes");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");

        // The Service sends traffic to the same port.
        let svc = of_kind(&docs, "Service", name).unwrap_or_else(|| panic!("Service {name}"));
        let target = &svc["spec"]["ports"][0]["targetPort"];
        assert_eq!(
            port_of(target),
            u64::from(listen_port),
            "{name} Service targetPort"
        );
    }
}
