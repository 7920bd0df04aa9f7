//! Typed model of the Kubernetes and Istio objects the local mesh understands.
//!
//! Istio routing kinds (Gateway, VirtualService, DestinationRule) are parsed with
//! `deny_unknown_fields`: every field present in the YAML must be one the translator
//! turns into Envoy configuration, otherwise loading fails with the file, the object and
//! the field path. Kubernetes kinds (Service, Deployment, ServiceAccount, ConfigMap,
//! Namespace) are read for topology only: their other fields have no local meaning.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Object metadata. Labels/annotations are accepted on every kind.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Metadata of a topology-only kind: extra fields are harmless there.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct LooseMetadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

// ---------------------------------------------------------------- Kubernetes (topology)

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub metadata: LooseMetadata,
    #[serde(default)]
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct ServiceSpec {
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(default)]
    pub name: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub target_port: Option<serde_norway::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Deployment {
    pub metadata: LooseMetadata,
    pub spec: DeploymentSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentSpec {
    pub template: PodTemplate,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PodTemplate {
    #[serde(default)]
    pub metadata: PodMeta,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct PodMeta {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

// ---------------------------------------------------------------- Istio routing kinds

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gateway {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: GatewaySpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySpec {
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    pub port: GatewayPort,
    pub hosts: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayPort {
    pub number: u16,
    #[serde(default)]
    pub name: Option<String>,
    pub protocol: String,
    #[serde(default)]
    pub target_port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualService {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: VirtualServiceSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualServiceSpec {
    pub hosts: Vec<String>,
    #[serde(default)]
    pub gateways: Vec<String>,
    #[serde(default)]
    pub http: Vec<HttpRoute>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRoute {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "match")]
    pub matches: Vec<HttpMatch>,
    #[serde(default)]
    pub route: Vec<RouteDestination>,
    #[serde(default)]
    pub rewrite: Option<Rewrite>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retries: Option<Retries>,
    #[serde(default)]
    pub fault: Option<Fault>,
    #[serde(default)]
    pub mirror: Option<Destination>,
    #[serde(default)]
    pub mirror_percentage: Option<Percent>,
    #[serde(default)]
    pub headers: Option<Headers>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub uri: Option<StringMatch>,
    #[serde(default)]
    pub method: Option<StringMatch>,
    #[serde(default)]
    pub headers: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub without_headers: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub query_params: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub ignore_uri_case: bool,
    #[serde(default)]
    pub gateways: Vec<String>,
}

/// Istio StringMatch: exactly one of exact, prefix, regex.
#[derive(Debug, Clone, PartialEq)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Regex(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StringMatchRepr {
    #[serde(default)]
    exact: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    regex: Option<String>,
}

impl<'de> Deserialize<'de> for StringMatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = StringMatchRepr::deserialize(d)?;
        match (r.exact, r.prefix, r.regex) {
            (Some(v), None, None) => Ok(StringMatch::Exact(v)),
            (None, Some(v), None) => Ok(StringMatch::Prefix(v)),
            (None, None, Some(v)) => Ok(StringMatch::Regex(v)),
            _ => Err(serde::de::Error::custom(
                "a string match needs exactly one of `exact`, `prefix`, `regex`",
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDestination {
    pub destination: Destination,
    #[serde(default)]
    pub weight: Option<u32>,
    #[serde(default)]
    pub headers: Option<Headers>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    pub host: String,
    #[serde(default)]
    pub subset: Option<String>,
    #[serde(default)]
    pub port: Option<PortSelector>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSelector {
    pub number: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rewrite {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub authority: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retries {
    pub attempts: u32,
    #[serde(default)]
    pub per_try_timeout: Option<String>,
    #[serde(default)]
    pub retry_on: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    #[serde(default)]
    pub delay: Option<FaultDelay>,
    #[serde(default)]
    pub abort: Option<FaultAbort>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultDelay {
    pub fixed_delay: String,
    #[serde(default)]
    pub percentage: Option<Percent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultAbort {
    pub http_status: u16,
    #[serde(default)]
    pub percentage: Option<Percent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Percent {
    pub value: f64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Headers {
    #[serde(default)]
    pub request: Option<HeaderOps>,
    #[serde(default)]
    pub response: Option<HeaderOps>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderOps {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRule {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: DestinationRuleSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DestinationRuleSpec {
    pub host: String,
    #[serde(default)]
    pub traffic_policy: Option<TrafficPolicy>,
    #[serde(default)]
    pub subsets: Vec<Subset>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subset {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub traffic_policy: Option<TrafficPolicy>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicy {
    #[serde(default)]
    pub connection_pool: Option<ConnectionPool>,
    #[serde(default)]
    pub outlier_detection: Option<OutlierDetection>,
    #[serde(default)]
    pub load_balancer: Option<LoadBalancer>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionPool {
    #[serde(default)]
    pub tcp: Option<TcpPool>,
    #[serde(default)]
    pub http: Option<HttpPool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpPool {
    #[serde(default)]
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub connect_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpPool {
    #[serde(default)]
    pub http1_max_pending_requests: Option<u32>,
    #[serde(default)]
    pub http2_max_requests: Option<u32>,
    #[serde(default)]
    pub max_requests_per_connection: Option<u32>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub idle_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlierDetection {
    #[serde(default)]
    pub consecutive_5xx_errors: Option<u32>,
    #[serde(default)]
    pub consecutive_gateway_errors: Option<u32>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub base_ejection_time: Option<String>,
    #[serde(default)]
    pub max_ejection_percent: Option<u32>,
    #[serde(default)]
    pub min_health_percent: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    pub simple: String,
}

// ---------------------------------------------------------------- loading

/// Where an object came from, for error messages.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: PathBuf,
    pub kind: String,
    pub name: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {:?}", self.file.display(), self.kind, self.name)
    }
}

#[derive(Debug, Clone)]
pub enum Object {
    Service(Service),
    Deployment(Deployment),
    /// ServiceAccount, ConfigMap, Namespace: valid, no local effect.
    TopologyOnly,
    Gateway(Gateway),
    VirtualService(VirtualService),
    DestinationRule(DestinationRule),
}

#[derive(Debug, Clone)]
pub struct Loaded {
    pub origin: Origin,
    pub object: Object,
}

/// One load error: file, object and (where known) field path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {object}: {message}")]
pub struct LoadError {
    pub file: String,
    pub object: String,
    pub message: String,
}

/// Kinds that only mean something with istiod / sidecars.
const NEEDS_ISTIOD: &[&str] = &[
    "PeerAuthentication",
    "AuthorizationPolicy",
    "RequestAuthentication",
    "Sidecar",
    "EnvoyFilter",
    "ServiceEntry",
    "WorkloadEntry",
    "WorkloadGroup",
    "Telemetry",
    "ProxyConfig",
    "WasmPlugin",
];

pub const MINIKUBE_HINT: &str =
    "it needs istiod and sidecars; use the minikube + Istio path (see README, 'Deploy on minikube + Istio')";

fn typed<T: serde::de::DeserializeOwned>(
    value: serde_norway::Value,
    file: &str,
    object: &str,
) -> Result<T, LoadError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = if inner.starts_with("unknown field") {
            format!(
                "field `{path}` is not translated by the local mesh ({inner}); remove it or use the minikube + Istio path"
            )
        } else {
            format!("field `{path}`: {inner}")
        };
        LoadError {
            file: file.to_string(),
            object: object.to_string(),
            message,
        }
    })
}

/// Parse every document of one YAML text. `file` is only used in messages.
pub fn parse_documents(text: &str, file: &Path) -> Result<Vec<Loaded>, Vec<LoadError>> {
    let file_s = file.display().to_string();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (index, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = match serde_norway::Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                errors.push(LoadError {
                    file: file_s.clone(),
                    object: format!("document {}", index + 1),
                    message: format!("invalid YAML: {e}"),
                });
                break;
            }
        };
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string();
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string();
        let object_label = if kind.is_empty() {
            format!("document {}", index + 1)
        } else {
            format!("{kind} {name:?}")
        };
        if kind.is_empty() || name.is_empty() {
            errors.push(LoadError {
                file: file_s.clone(),
                object: object_label,
                message: "every object needs `kind` and `metadata.name`".into(),
            });
            continue;
        }
        let api = value
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string();
        let istio_networking = api.starts_with("networking.istio.io/");
        let object = match kind.as_str() {
            "Service" if api == "v1" => typed::<Service>(value, &file_s, &object_label).map(Object::Service),
            "Deployment" if api == "apps/v1" => {
                typed::<Deployment>(value, &file_s, &object_label).map(Object::Deployment)
            }
            "ServiceAccount" | "ConfigMap" | "Namespace" if api == "v1" => Ok(Object::TopologyOnly),
            "Gateway" if istio_networking => {
                typed::<Gateway>(value, &file_s, &object_label).map(Object::Gateway)
            }
            "VirtualService" if istio_networking => {
                typed::<VirtualService>(value, &file_s, &object_label).map(Object::VirtualService)
            }
            "DestinationRule" if istio_networking => {
                typed::<DestinationRule>(value, &file_s, &object_label).map(Object::DestinationRule)
            }
            k if NEEDS_ISTIOD.contains(&k) => Err(LoadError {
                file: file_s.clone(),
                object: object_label.clone(),
                message: format!("kind {k} cannot be honoured by the local mesh: {MINIKUBE_HINT}"),
            }),
            _ => Err(LoadError {
                file: file_s.clone(),
                object: object_label.clone(),
                message: format!(
                    "apiVersion {api:?} kind {kind:?} is not translated by the local mesh (it reads v1 Service/ServiceAccount/ConfigMap/Namespace, apps/v1 Deployment, networking.istio.io Gateway/VirtualService/DestinationRule); use the minikube + Istio path (see README, 'Deploy on minikube + Istio')"
                ),
            }),
        };
        match object {
            Ok(object) => out.push(Loaded {
                origin: Origin {
                    file: file.to_path_buf(),
                    kind,
                    name,
                },
                object,
            }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The YAML files of a networking directory (top level only: scenarios/ is not applied,
/// exactly like `kubectl apply -f networking/`), sorted by name.
pub fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        );
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Load networking/*.yaml plus an optional scenario file whose objects replace those of
/// the same kind and name (and are added otherwise).
pub fn load(dir: &Path, scenario: Option<&Path>) -> Result<Vec<Loaded>, Vec<LoadError>> {
    let mut errors = Vec::new();
    let mut objects: Vec<Loaded> = Vec::new();
    let files = match yaml_files(dir) {
        Ok(f) => f,
        Err(e) => {
            return Err(vec![LoadError {
                file: dir.display().to_string(),
                object: "directory".into(),
                message: format!(
                    "cannot read the networking directory ({e}); run from the repository root or pass --networking DIR"
                ),
            }])
        }
    };
    let read = |path: &Path, errors: &mut Vec<LoadError>| -> Vec<Loaded> {
        match std::fs::read_to_string(path) {
            Ok(text) => match parse_documents(&text, path) {
                Ok(v) => v,
                Err(mut e) => {
                    errors.append(&mut e);
                    Vec::new()
                }
            },
            Err(e) => {
                errors.push(LoadError {
                    file: path.display().to_string(),
                    object: "file".into(),
                    message: format!("cannot read: {e}"),
                });
                Vec::new()
            }
        }
    };
    for f in &files {
        let mut v = read(f, &mut errors);
        objects.append(&mut v);
    }
    if let Some(s) = scenario {
        for o in read(s, &mut errors) {
            match objects
                .iter_mut()
                .find(|x| x.origin.kind == o.origin.kind && x.origin.name == o.origin.name)
            {
                Some(slot) => *slot = o,
                None => objects.push(o),
            }
        }
    }
    if errors.is_empty() {
        Ok(objects)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_named_with_file_object_and_path() {
        let yaml = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: credit-check
spec:
  hosts: ["*"]
  gateways: [kyc-gateway]
  http:
  - route:
    - destination:
        host: kyc-credit-check-basic
    corsPolicy:
      allowOrigins: [{exact: "*"}]
"#;
        let err = parse_documents(yaml, Path::new("networking/x.yaml")).unwrap_err();
        let msg = err[0].to_string();
        assert!(msg.contains("networking/x.yaml"), "{msg}");
        assert!(msg.contains("VirtualService \"credit-check\""), "{msg}");
        assert!(msg.contains("spec.http[0]"), "{msg}");
        assert!(msg.contains("corsPolicy"), "{msg}");
    }

    #[test]
    fn istiod_kinds_are_refused_with_minikube_hint() {
        let yaml = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\nspec:\n  mtls:\n    mode: STRICT\n";
        let err = parse_documents(yaml, Path::new("p.yaml")).unwrap_err();
        let msg = err[0].to_string();
        assert!(msg.contains("PeerAuthentication"), "{msg}");
        assert!(msg.contains("minikube"), "{msg}");
    }

    #[test]
    fn topology_kinds_accept_any_fields() {
        let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kyc-credit-check-basic
  labels: {app: kyc-credit-check-basic}
spec:
  replicas: 1
  selector: {matchLabels: {app: kyc-credit-check-basic}}
  template:
    metadata:
      labels: {app: kyc-credit-check-basic, version: v1}
    spec:
      containers: [{name: x, image: y, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: kyc-credit-check-basic}
"#;
        let v = parse_documents(yaml, Path::new("d.yaml")).unwrap();
        assert_eq!(v.len(), 2);
        match &v[0].object {
            Object::Deployment(d) => {
                assert_eq!(d.spec.template.metadata.labels["version"], "v1")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn scenario_objects_replace_same_kind_and_name_and_subdirs_are_not_applied() {
        let dir = tempfile::tempdir().expect("tmp");
        let cm =
            |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n");
        std::fs::write(
            dir.path().join("a.yaml"),
            format!("{}---\n{}", cm("one"), cm("two")),
        )
        .expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not yaml").expect("write");
        std::fs::create_dir(dir.path().join("scenarios")).expect("mkdir");
        let scenario = dir.path().join("scenarios/s.yml");
        std::fs::write(&scenario, format!("{}---\n{}", cm("two"), cm("three"))).expect("write");
        let base = load(dir.path(), None).expect("load");
        assert_eq!(base.len(), 2, "scenarios/ is not applied by default");
        let with = load(dir.path(), Some(&scenario)).expect("load");
        let names: Vec<(String, String)> = with
            .iter()
            .map(|o| {
                (
                    o.origin.name.clone(),
                    o.origin
                        .file
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_string(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("one".to_string(), "a.yaml".to_string()),
                ("two".to_string(), "s.yml".to_string()),
                ("three".to_string(), "s.yml".to_string())
            ]
        );
    }
}
