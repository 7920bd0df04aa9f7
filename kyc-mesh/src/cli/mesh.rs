//! `kyc-mesh status` and `kyc-mesh curl --from WORKLOAD URL`: read the running mesh's
//! status file (`crate::status`) and show it, or send one request as that workload:
//! through its sidecar's outbound listener, so with its identity and its sidecar's
//! routing and policies, like `kubectl exec deploy/X -c istio-proxy -- curl`.

use std::time::Duration;

use anyhow::Result;

use crate::status::{self, MeshStatus};

use super::Common;

/// Exit 2 with a message: no mesh runs for this state directory.
fn no_mesh(c: &Common) -> i32 {
    eprintln!(
        "kyc-mesh: no mesh is running with state directory {} (start `kyc-mesh up`, or pass its --state-dir / --admin-port)",
        c.state_dir().display()
    );
    2
}

pub(super) fn show(c: &Common) -> Result<i32> {
    let Some(s) = status::read(&c.state_dir()) else {
        return Ok(no_mesh(c));
    };
    print!("{}", render(&s));
    Ok(0)
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
            match &pod.sidecar {
                Some(sc) => line(format!(
                    "      sidecar: inbound :{} ({}), outbound :{}, admin :{}, identity {}",
                    pod.port, sc.mtls, sc.outbound, sc.admin, sc.spiffe
                )),
                None => line("      no sidecar".into()),
            }
        }
    }
    out
}

/// What `curl --from` sends.
pub(super) struct CurlArgs<'a> {
    pub from: &'a str,
    pub url: &'a str,
    pub method: &'a str,
    pub headers: &'a [String],
    pub body: Option<&'a str>,
}

/// Exit codes: 0 an answer came (its status is printed), 1 no answer, 2 usage or no mesh.
pub(super) async fn curl(c: &Common, a: CurlArgs<'_>) -> Result<i32> {
    let Some(s) = status::read(&c.state_dir()) else {
        return Ok(no_mesh(c));
    };
    let Some(w) = s.workloads.iter().find(|w| w.name == a.from) else {
        let known: Vec<&str> = s.workloads.iter().map(|w| w.name.as_str()).collect();
        eprintln!(
            "kyc-mesh: unknown workload {:?} (one of {})",
            a.from,
            known.join(", ")
        );
        return Ok(2);
    };
    if w.replicas == 0 {
        eprintln!(
            "kyc-mesh: {} has replicas: 0 in this mesh: no instance to send as",
            w.name
        );
        return Ok(2);
    }
    let Some(sidecar) = &w.sidecar else {
        eprintln!("kyc-mesh: {} has no sidecar in this mesh (edge only or not injected): there is no identity to send as", w.name);
        return Ok(2);
    };
    let Ok(url) = reqwest::Url::parse(a.url) else {
        eprintln!("kyc-mesh: {:?} is not a URL (e.g. http://kyc-credit-check-basic:8080/credit-check/basic)", a.url);
        return Ok(2);
    };
    if url.scheme() != "http" {
        eprintln!("kyc-mesh: only http:// URLs: the sidecar originates the mTLS, as in a pod");
        return Ok(2);
    }
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => {
            eprintln!("kyc-mesh: {:?} has no host", a.url);
            return Ok(2);
        }
    };
    let Ok(method) = reqwest::Method::from_bytes(a.method.as_bytes()) else {
        eprintln!("kyc-mesh: -X {:?} is not an HTTP method", a.method);
        return Ok(2);
    };
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    let target = format!("http://127.0.0.1:{}{}{query}", sidecar.outbound, url.path());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut req = client
        .request(method, &target)
        .header(reqwest::header::HOST, host);
    for h in a.headers {
        let Some((k, v)) = h.split_once(':') else {
            eprintln!("kyc-mesh: -H {h:?}: expected 'Name: value'");
            return Ok(2);
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
            Ok(0)
        }
        Err(e) => {
            eprintln!("kyc-mesh: no answer through the sidecar of {}: {e}", w.name);
            Ok(1)
        }
    }
}
