//! `kyc-mesh status` and `kyc-mesh curl --from WORKLOAD URL`: read the running mesh's
//! status file (`crate::status`) and show it, or send one request as that workload:
//! through its sidecar's outbound listener, so with its identity and its sidecar's
//! routing and policies, like `kubectl exec deploy/X -c istio-proxy -- curl`.

use std::time::Duration;

use crate::status::{self, MeshStatus};

use super::error::{CliError, Exit};
use super::Common;

/// The running mesh of `c`'s state directory, or the usage error saying there is none.
fn running(c: &Common) -> Result<MeshStatus, CliError> {
    status::read(&c.state_dir()).ok_or_else(|| {
        CliError::Usage(format!(
            "no mesh is running with state directory {} (start `kyc-mesh up`, or pass its --state-dir / --admin-port)",
            c.state_dir().display()
        ))
    })
}

pub(super) fn show(c: &Common) -> Result<Exit, CliError> {
    print!("{}", render(&running(c)?));
    Ok(Exit::Success)
}

fn render(s: &MeshStatus) -> String {
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    line(format!("mesh (kyc-mesh up, pid {})", s.pid));
    line(format!(
        "  scenario:  {}",
        crate::scenario::shown(s.scenario.as_deref())
    ));
    match &s.ca {
        Some(ca) => line(format!("  mesh CA:   {}", ca.display())),
        None => line("  mesh CA:   none (edge only, no sidecars)".into()),
    }
    line(format!(
        "  gateway:   :{} (admin :{}){}",
        s.gateway_port,
        s.gateway_admin,
        s.gateway_identity
            .as_ref()
            .map(|i| format!(" as {i}"))
            .unwrap_or_default()
    ));
    for w in &s.workloads {
        if w.pods.is_empty() {
            // `--external-services`: the services run elsewhere on their contract ports.
            let what = if w.replicas == 0 {
                "replicas: 0, no instance (its routes answer 503 no healthy upstream)"
            } else {
                "not run by this mesh"
            };
            line(format!("  {}  :{}  {what}", w.name, w.port));
            continue;
        }
        line(format!(
            "  {}  :{}  replicas {}",
            w.name, w.port, w.replicas
        ));
        for pod in &w.pods {
            let instance = match &pod.instance {
                Some(i) => format!("app pid {} on :{}", i.pid, i.port),
                None => "app not running (waiting for a restart)".into(),
            };
            line(format!("    {}  :{}  {instance}", pod.name, pod.port));
            let hbone = s.ambient.as_ref().and_then(|a| a.hbone.get(&pod.name));
            match (&pod.sidecar, hbone) {
                (Some(sc), _) => line(format!(
                    "      sidecar: inbound :{} ({}), outbound :{}, admin :{}, identity {}",
                    pod.port, sc.mtls, sc.outbound, sc.admin, sc.spiffe
                )),
                (None, Some(port)) => {
                    let node = s
                        .ambient
                        .iter()
                        .flat_map(|a| &a.nodes)
                        .find(|n| n.pods.contains(&pod.name));
                    line(format!(
                        "      ambient: HBONE :{port} (mTLS, node proxy {})",
                        node.map_or("?", |n| n.name.as_str())
                    ))
                }
                (None, None) => line("      no sidecar".into()),
            }
        }
    }
    if let Some(a) = &s.ambient {
        for n in &a.nodes {
            line(format!(
                "  ambient:   node proxy {} (metrics :{}/metrics): {}",
                n.name,
                n.admin,
                n.pods.join(", ")
            ));
        }
        for w in &a.waypoints {
            line(format!(
                "  waypoint:  {} HBONE :{} (admin :{}) as {}",
                w.name, w.hbone, w.admin, w.spiffe
            ));
        }
    }
    out
}

/// What `curl --from` sends.
pub(super) struct CurlArgs<'a> {
    pub(crate) from: &'a str,
    pub(crate) url: &'a str,
    pub(crate) method: &'a str,
    pub(crate) headers: &'a [String],
    pub(crate) body: Option<&'a str>,
}

/// Exit codes: 0 an answer came (its status is printed), 1 no answer, 2 usage or no mesh.
pub(super) async fn curl(c: &Common, a: CurlArgs<'_>) -> Result<Exit, CliError> {
    let usage = |m: String| Err(CliError::Usage(m));
    let s = running(c)?;
    let Some(w) = s.workloads.iter().find(|w| w.name == a.from) else {
        let known: Vec<&str> = s.workloads.iter().map(|w| w.name.as_str()).collect();
        return usage(format!(
            "unknown workload {:?} (one of {})",
            a.from,
            known.join(", ")
        ));
    };
    if w.replicas == 0 {
        return usage(format!(
            "{} has replicas: 0 in this mesh: no instance to send as",
            w.name
        ));
    }
    let Ok(url) = reqwest::Url::parse(a.url) else {
        return usage(format!(
            "{:?} is not a URL (e.g. http://kyc-credit-check-basic:8080/credit-check/basic)",
            a.url
        ));
    };
    if url.scheme() != "http" {
        return usage(
            "only http:// URLs: the sidecar or the node proxy originates the mTLS, as in a pod"
                .into(),
        );
    }
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return usage(format!("{:?} has no host", a.url)),
    };
    // Through instance 0's sidecar outbound, or in ambient mode its node proxy's outbound
    // listener to the URL's Service (HBONE with the workload's identity).
    let (port, through) = match (&w.sidecar, &s.ambient) {
        (Some(sidecar), _) => (sidecar.outbound, "the sidecar"),
        (None, Some(ambient)) if ambient.workloads.contains(&w.name) => {
            let pod = crate::topology::Topology::pod_name(&w.name, 0);
            let wanted = service_authority(&url);
            let listeners: Vec<_> = ambient.outbound.iter().filter(|o| o.pod == pod).collect();
            match listeners
                .iter()
                .find(|o| Some(&o.service) == wanted.as_ref())
            {
                Some(o) => (o.port, "the node proxy"),
                None => {
                    let known: Vec<&str> = listeners.iter().map(|o| o.service.as_str()).collect();
                    return usage(format!(
                        "{} reaches {} through its node proxy in this mesh (ambient mode: the Services a waypoint serves){}",
                        w.name,
                        if known.is_empty() { "no Service".to_string() } else { known.join(", ") },
                        wanted.map(|s| format!(", not {s}")).unwrap_or_default()
                    ));
                }
            }
        }
        (None, _) => {
            return usage(format!("{} has no sidecar in this mesh (edge only or not injected): there is no identity to send as", w.name));
        }
    };
    let Ok(method) = reqwest::Method::from_bytes(a.method.as_bytes()) else {
        return usage(format!("-X {:?} is not an HTTP method", a.method));
    };
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    let target = format!("http://127.0.0.1:{port}{}{query}", url.path());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut req = client
        .request(method, &target)
        .header(reqwest::header::HOST, host);
    for h in a.headers {
        let Some((k, v)) = h.split_once(':') else {
            return usage(format!("-H {h:?}: expected 'Name: value'"));
        };
        req = req.header(k.trim(), v.trim());
    }
    if let Some(b) = a.body {
        req = req.body(b.to_string());
    }
    match req.send().await {
        Ok(r) => {
            println!("HTTP {}", r.status());
            println!("{}", r.text().await.unwrap_or_default());
            Ok(Exit::Success)
        }
        Err(e) => Err(CliError::Unfinished(format!(
            "no answer through {through} of {}: {e}",
            w.name
        ))),
    }
}

/// The Service a URL names, as `<name>.<namespace>.svc.cluster.local:<port>` (Kubernetes'
/// short forms: `name`, `name.ns`, `name.ns.svc`; port 80 without one).
fn service_authority(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let trimmed = host
        .trim_end_matches(".cluster.local")
        .trim_end_matches(".svc");
    let mut parts = trimmed.split('.');
    let name = parts.next()?;
    let ns = parts.next().unwrap_or(crate::istio::DEFAULT_NAMESPACE);
    if parts.next().is_some() {
        return None;
    }
    Some(format!(
        "{name}.{ns}.svc.cluster.local:{}",
        url.port_or_known_default().unwrap_or(80)
    ))
}
