//! Reading networking/: YAML documents → typed objects, with every problem reported as
//! file, object and field path (like `kubectl apply` would, and before anything starts).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{
    gateway_api, AuthorizationPolicy, Deployment, DestinationRule, Gateway, Loaded, Namespace,
    Object, Origin, PeerAuthentication, RequestAuthentication, Service, VirtualService,
};

/// One load error: file, object and (where known) field path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {object}: {message}")]
pub struct LoadError {
    pub file: String,
    pub object: String,
    pub message: String,
}

impl LoadError {
    fn new(file: impl ToString, object: impl ToString, message: impl ToString) -> Self {
        LoadError {
            file: file.to_string(),
            object: object.to_string(),
            message: message.to_string(),
        }
    }
}

/// Kinds that only mean something with istiod / sidecars.
const NEEDS_ISTIOD: &[&str] = &[
    "Sidecar",
    "EnvoyFilter",
    "ServiceEntry",
    "WorkloadEntry",
    "WorkloadGroup",
    "Telemetry",
    "ProxyConfig",
    "WasmPlugin",
];

pub(crate) const MINIKUBE_HINT: &str =
    "it needs istiod and sidecars; use the minikube + Istio path (see docs/deploy.md)";

/// Deserialise one object, naming the field path of the first problem.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_norway::Value,
    file: &str,
    object: &str,
) -> Result<T, LoadError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // An unknown field, or an enum value (a Gateway API filter or match `type`) the
        // local mesh has no translation for.
        let message = if inner.starts_with("unknown field") || inner.starts_with("unknown variant") {
            format!(
                "field `{path}` is not translated by the local mesh ({inner}); remove it or use the minikube + Istio path"
            )
        } else {
            format!("field `{path}`: {inner}")
        };
        LoadError::new(file, object, message)
    })
}

/// A string field of an untyped document ("" when absent).
fn text_at<'a>(value: &'a serde_norway::Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// Turn one document into a typed object, by apiVersion and kind.
fn object_of(
    value: serde_norway::Value,
    api: &str,
    kind: &str,
    file: &str,
    label: &str,
) -> Result<Object, LoadError> {
    let istio_networking = api.starts_with("networking.istio.io/");
    let is_gateway_api = api
        .strip_prefix(gateway_api::GROUP)
        .is_some_and(|v| v.starts_with('/'));
    let istio_security = api.starts_with("security.istio.io/");
    match kind {
        "Service" if api == "v1" => typed::<Service>(value, file, label).map(Object::Service),
        "Deployment" if api == "apps/v1" => {
            typed::<Deployment>(value, file, label).map(Object::Deployment)
        }
        "Namespace" if api == "v1" => typed::<Namespace>(value, file, label).map(Object::Namespace),
        "ServiceAccount" | "ConfigMap" if api == "v1" => Ok(Object::TopologyOnly),
        "Gateway" if istio_networking => typed::<Gateway>(value, file, label).map(Object::Gateway),
        "VirtualService" if istio_networking => {
            typed::<VirtualService>(value, file, label).map(Object::VirtualService)
        }
        "DestinationRule" if istio_networking => {
            typed::<DestinationRule>(value, file, label).map(Object::DestinationRule)
        }
        "Gateway" if is_gateway_api => {
            typed::<gateway_api::Gateway>(value, file, label).map(Object::ApiGateway)
        }
        "HTTPRoute" if is_gateway_api => {
            typed::<gateway_api::HttpRoute>(value, file, label).map(Object::HttpRoute)
        }
        "PeerAuthentication" if istio_security => {
            typed::<PeerAuthentication>(value, file, label).map(Object::PeerAuthentication)
        }
        "AuthorizationPolicy" if istio_security => {
            typed::<AuthorizationPolicy>(value, file, label).map(Object::AuthorizationPolicy)
        }
        "RequestAuthentication" if istio_security => {
            typed::<RequestAuthentication>(value, file, label).map(Object::RequestAuthentication)
        }
        k if NEEDS_ISTIOD.contains(&k) => Err(LoadError::new(
            file,
            label,
            format!("kind {k} cannot be honoured by the local mesh: {MINIKUBE_HINT}"),
        )),
        _ => Err(LoadError::new(
            file,
            label,
            format!(
                "apiVersion {api:?} kind {kind:?} is not translated by the local mesh (it reads v1 Service/ServiceAccount/ConfigMap/Namespace, apps/v1 Deployment, networking.istio.io Gateway/VirtualService/DestinationRule, security.istio.io PeerAuthentication/RequestAuthentication/AuthorizationPolicy, gateway.networking.k8s.io Gateway/HTTPRoute); use the minikube + Istio path (see docs/deploy.md)"
            ),
        )),
    }
}

/// Parse every document of one YAML text. `file` is only used in messages.
pub(crate) fn parse_documents(text: &str, file: &Path) -> Result<Vec<Loaded>, Vec<LoadError>> {
    let file_s = file.display().to_string();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (index, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = match serde_norway::Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                errors.push(LoadError::new(
                    &file_s,
                    format!("document {}", index + 1),
                    format!("invalid YAML: {e}"),
                ));
                break;
            }
        };
        if value.is_null() {
            continue;
        }
        let kind = text_at(&value, &["kind"]).to_string();
        let name = text_at(&value, &["metadata", "name"]).to_string();
        let api = text_at(&value, &["apiVersion"]).to_string();
        let label = if kind.is_empty() {
            format!("document {}", index + 1)
        } else {
            format!("{kind} {name:?}")
        };
        if kind.is_empty() || name.is_empty() {
            errors.push(LoadError::new(
                &file_s,
                label,
                "every object needs `kind` and `metadata.name`",
            ));
            continue;
        }
        match object_of(value, &api, &kind, &file_s, &label) {
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
/// exactly like `kubectl apply -f networking/`), sorted by name. Every `*.yaml`/`*.yml`
/// entry is listed, also one that is not a readable file (a directory, a dangling
/// symlink): reading it reports that, naming it, instead of skipping it silently.
pub(crate) fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        );
        if is_yaml {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The largest YAML file read (networking/'s files are a few KiB): bounded memory and
/// parse time whatever is saved there.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The text of one YAML file, or why it cannot be used.
fn read_text(path: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    let bad = |message: String| LoadError::new(path.display(), "file", message);
    let meta = std::fs::metadata(path).map_err(|e| {
        let dangling = e.kind() == std::io::ErrorKind::NotFound
            && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if dangling {
            bad("is a symlink to a file that does not exist".to_string())
        } else {
            bad(format!("cannot read: {e}"))
        }
    })?;
    if meta.is_dir() {
        return Err(bad("is a directory, not a YAML file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(bad(format!(
            "is {} bytes; the local mesh reads YAML files of at most {MAX_FILE_BYTES} bytes",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(bad(format!(
            "grew beyond {MAX_FILE_BYTES} bytes while being read"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        bad(format!(
            "is not UTF-8 text (binary data at byte {}?)",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Read and parse one file, collecting its problems into `errors`.
fn read_file(path: &Path, errors: &mut Vec<LoadError>) -> Vec<Loaded> {
    let parsed = read_text(path)
        .map_err(|e| vec![e])
        .and_then(|text| parse_documents(&text, path))
        .and_then(|objects| {
            if objects.is_empty() {
                // Like `kubectl apply -f` ("no objects passed to apply"); also what an editor
                // that truncates before writing leaves for a moment.
                Err(vec![LoadError::new(
                    path.display(),
                    "file",
                    "contains no objects (a save in progress? remove the file if it is meant to be empty)",
                )])
            } else {
                Ok(objects)
            }
        });
    parsed.unwrap_or_else(|mut e| {
        errors.append(&mut e);
        Vec::new()
    })
}

/// Load networking/*.yaml plus an optional scenario file whose objects replace those of
/// the same kind and name (and are added otherwise). "Kind" includes the API group, as
/// in Kubernetes: a Gateway API `Gateway` never replaces an Istio `Gateway`.
pub(crate) fn load(dir: &Path, scenario: Option<&Path>) -> Result<Vec<Loaded>, Vec<LoadError>> {
    let files = yaml_files(dir).map_err(|e| {
        vec![LoadError::new(
            dir.display(),
            "directory",
            format!(
                "cannot read the networking directory ({e}); run from the repository root or pass --networking DIR"
            ),
        )]
    })?;
    let mut errors = Vec::new();
    let mut objects: Vec<Loaded> = Vec::new();
    for f in &files {
        objects.append(&mut read_file(f, &mut errors));
    }
    if let Some(s) = scenario {
        for o in read_file(s, &mut errors) {
            match objects.iter_mut().find(|x| {
                x.origin.kind == o.origin.kind
                    && x.origin.name == o.origin.name
                    && std::mem::discriminant(&x.object) == std::mem::discriminant(&o.object)
            }) {
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
        let yaml = "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: default\nspec: {}\n";
        let err = parse_documents(yaml, Path::new("p.yaml")).unwrap_err();
        let msg = err[0].to_string();
        assert!(msg.contains("kind Sidecar"), "{msg}");
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
