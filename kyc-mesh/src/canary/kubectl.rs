//! The cluster's actuator: `kubectl patch virtualservice … --type=json` replacing the two
//! weights of the route, guarded by a `test` operation on the route's name so that a cluster
//! whose VirtualService differs from networking/ is refused instead of patched blindly.

use std::path::PathBuf;

use super::{Actuator, CanaryError};

pub(crate) struct Kubectl {
    pub(crate) program: PathBuf,
    pub(crate) context: Option<String>,
    pub(crate) namespace: String,
    pub(crate) virtual_service: String,
    pub(crate) route: String,
    /// The route's index in `spec.http`, and the stable and canary destinations' indexes.
    pub(crate) route_index: usize,
    pub(crate) stable_index: usize,
    pub(crate) canary_index: usize,
}

impl Kubectl {
    /// The JSON patch giving the canary `weight` percent.
    pub(crate) fn patch(&self, weight: u32) -> String {
        let base = format!("/spec/http/{}", self.route_index);
        serde_json::json!([
            {"op": "test", "path": format!("{base}/name"), "value": self.route},
            {"op": "replace", "path": format!("{base}/route/{}/weight", self.stable_index), "value": 100 - weight},
            {"op": "replace", "path": format!("{base}/route/{}/weight", self.canary_index), "value": weight},
        ])
        .to_string()
    }

    pub(crate) fn args(&self, weight: u32) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(c) = &self.context {
            args.extend(["--context".to_string(), c.clone()]);
        }
        args.extend([
            "--namespace".to_string(),
            self.namespace.clone(),
            "patch".into(),
            "virtualservice".into(),
            self.virtual_service.clone(),
            "--type=json".into(),
            "-p".into(),
            self.patch(weight),
        ]);
        args
    }
}

impl Actuator for Kubectl {
    async fn set_weight(&mut self, weight: u32) -> Result<(), CanaryError> {
        let out = tokio::process::Command::new(&self.program)
            .args(self.args(weight))
            .output()
            .await
            .map_err(|error| CanaryError::Kubectl {
                program: self.program.display().to_string(),
                error,
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(CanaryError::KubectlFailed {
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}
