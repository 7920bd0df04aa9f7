//! The live dashboard (issue 11) of a real `kyc-mesh up`, real Envoy and (where routing is
//! measured) the real services: a real headless Chromium renders both versions with live
//! figures, the event stream's numbers move under load, a weight change through the page's
//! API moves the split measured at the gateway without a failed request, every control is
//! labelled, writes need same-origin + the page's token + the right Host (403 otherwise),
//! bad input is a 400 naming the field, a canary started from the page is promoted, chaos
//! goes through the mesh, and the page still renders with the services killed.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::browser::{read_events, rendered_dom, token, unlabelled_controls};
use crate::helpers::http::{client, count, tally};
use crate::helpers::mesh::{alive, children, Mesh, MeshSpec};
use crate::helpers::{free_port, poll_async, repo_networking, ADVANCED, AGG, BASIC};
use crate::services::{cmdline, start_with};

const WAIT: Duration = Duration::from_secs(60);

struct Dash {
    port: u16,
    token: String,
    http: reqwest::Client,
}

impl Dash {
    async fn open(port: u16) -> Dash {
        let http = client();
        let page = http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect("GET /")
            .text()
            .await
            .expect("page");
        Dash {
            port,
            token: token(&page),
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn state(&self) -> Value {
        let r = self
            .http
            .get(self.url("/api/state"))
            .send()
            .await
            .expect("state");
        assert_eq!(r.status(), 200);
        r.json().await.expect("state JSON")
    }

    /// A read that may not answer yet (`None`).
    async fn get_json(&self, path: &str) -> Option<Value> {
        let r = self.http.get(self.url(path)).send().await.ok()?;
        r.json().await.ok()
    }

    /// A write as the page sends it (token, no Origin): (status, JSON answer).
    async fn write(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(method, self.url(path))
            .header("X-KYC-Token", &self.token)
            .header("Content-Type", "application/json");
        if let Some(b) = body {
            rb = rb.body(b.to_string());
        }
        let r = rb.send().await.expect("write");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn dashboard_args(port: u16) -> Vec<String> {
    vec!["--dashboard-port".into(), port.to_string()]
}

/// The requests the view counts for `host` in the window.
fn requests(view: &Value, host: &str) -> u64 {
    view["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|x| x["host"] == host))
        .and_then(|x| x["figures"]["requests"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_live_figures_and_its_api_moves_the_split_without_a_failure() {
    let envoy = require_envoy!();
    let port = free_port();
    let mesh = start_with(envoy, repo_networking(), vec![], dashboard_args(port)).await;
    assert!(
        mesh.output()
            .contains(&format!("dashboard:           http://localhost:{port}/")),
        "the banner lists the dashboard:\n{}",
        mesh.output()
    );
    let dash = Dash::open(port).await;
    // Traffic from the page's "send traffic" control: the mesh's own load generator, paced.
    let (status, answer) = dash.write("PUT", "/api/load", Some(r#"{"rps":40}"#)).await;
    assert_eq!(status, 200, "{answer}");

    // The event stream, read directly: both versions get traffic and the numbers move.
    let first = poll_async("both versions in the event stream", WAIT, || async {
        let e = read_events(&dash.url("/api/events"), 1).await.remove(0);
        (requests(&e, BASIC) > 0 && requests(&e, ADVANCED) > 0).then_some(e)
    })
    .await;
    let later = poll_async("the figures to move", WAIT, || async {
        let e = read_events(&dash.url("/api/events"), 1).await.remove(0);
        (e["updatedMs"] != first["updatedMs"] && e["edges"] != first["edges"]).then_some(e)
    })
    .await;
    assert_eq!(later["routes"][0]["virtualService"], "kyc-credit-check");

    // One render by a real browser: both versions with live numbers, every control labelled.
    let dom = rendered_dom(&dash.url("/")).await;
    for host in [BASIC, ADVANCED] {
        let row = dom
            .split(&format!("data-host=\"{host}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("no row of {host} in the rendered page:\n{dom}"));
        let rps: f64 = row
            .split("data-rps=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .expect("requests/s of the version");
        assert!(rps > 0.0, "{host} shows traffic under load ({rps})");
    }
    assert!(dom.contains("data-route=\"kyc-credit-check/credit-check-report\""));
    assert!(dom.contains("<svg id=\"graph\""), "the graph is drawn");
    assert!(dom.contains("data-node=\"kyc-aggregator-mgt\""));
    let unlabelled = unlabelled_controls(&dom);
    assert!(
        unlabelled.is_empty(),
        "controls without a label: {unlabelled:#?}"
    );
    assert!(
        dom.matches("<input").count() >= 6,
        "controls rendered:\n{dom}"
    );

    // 90/10 through the page's API: applied, and the gateway's split follows.
    let body = json!({"virtualService": "kyc-credit-check", "route": "credit-check-report",
        "weights": {"kyc-credit-check-basic": 90, "kyc-credit-check-advanced": 10}});
    let (status, answer) = dash
        .write("PUT", "/api/weights", Some(&body.to_string()))
        .await;
    assert_eq!(status, 200, "{answer}");
    let c = client();
    let split = poll_async("a 90/10 split at the gateway", WAIT, || async {
        let t = tally(&c, &mesh.url("/kyc/v1/customer?type=report"), 100, &[]).await;
        (count(&t, BASIC) >= 75 && count(&t, BASIC) + count(&t, ADVANCED) == 100).then_some(t)
    })
    .await;
    assert!(count(&split, ADVANCED) > 0, "{split:?}");
    let view = dash.state().await;
    let weights: Vec<u64> = view["routes"][0]["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .map(|d| d["weight"].as_u64().expect("weight"))
        .collect();
    assert_eq!(weights, [90, 10]);
    assert_eq!(view["routes"][0]["overridden"], true);
    let (status, answer) = dash.write("PUT", "/api/load", Some(r#"{"rps":0}"#)).await;
    assert_eq!(status, 200, "{answer}");
    let load = &answer["state"]["load"];
    assert!(load["sent"].as_u64() > Some(50), "the load ran: {load}");
    assert_eq!(
        load["failed"], 0,
        "no failed request while the weights moved: {load}"
    );

    // The events list shows the change.
    let view = poll_async("the weight event", WAIT, || async {
        let v = dash.state().await;
        v["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "weights-overridden"))
            .then_some(v)
    })
    .await;
    assert!(view["events"][0]["text"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_page_origin_token_and_host_and_bad_input_names_the_field() {
    let envoy = require_envoy!();
    let b = crate::helpers::backend::backends().await;
    let port = free_port();
    let net = repo_networking();
    let ports = (b.agg.port, b.basic.port, b.advanced.port);
    let mesh = tokio::task::spawn_blocking(move || {
        Mesh::start(MeshSpec {
            envoy: &envoy,
            networking: &net,
            scenario: None,
            external: Some(ports),
            service_env: vec![],
            up_args: dashboard_args(port),
        })
    })
    .await
    .expect("start");
    let dash = Dash::open(port).await;
    let http = client();
    let good = json!({"virtualService": "kyc-credit-check", "route": "credit-check-report",
        "weights": {"kyc-credit-check-basic": 90, "kyc-credit-check-advanced": 10}})
    .to_string();
    let put = |origin: Option<&str>, token: Option<&str>, host: Option<&str>| {
        let mut rb = http
            .put(dash.url("/api/weights"))
            .header("Content-Type", "application/json")
            .body(good.clone());
        if let Some(o) = origin {
            rb = rb.header("Origin", o);
        }
        if let Some(t) = token {
            rb = rb.header("X-KYC-Token", t);
        }
        if let Some(h) = host {
            rb = rb.header("Host", h);
        }
        rb.send()
    };
    let tok = dash.token.as_str();
    let own = format!("http://127.0.0.1:{port}");
    let bad_host = format!("evil.example:{port}");
    for (what, origin, token, host) in [
        ("cross-origin", Some("http://evil.example"), Some(tok), None),
        ("no token", None, None, None),
        ("wrong token", None, Some("0000"), None),
        ("bad Host", None, Some(tok), Some(bad_host.as_str())),
        (
            "DNS rebinding",
            Some("http://evil.example:9000"),
            Some(tok),
            Some(bad_host.as_str()),
        ),
    ] {
        let r = put(origin, token, host).await.expect("send");
        assert_eq!(r.status(), 403, "{what}");
        let body: Value = r.json().await.expect("403 JSON");
        assert!(body["error"].is_string(), "{what}: {body}");
    }
    // Reads need no token, but the right Host.
    let r = http
        .get(dash.url("/api/state"))
        .header("Host", bad_host.as_str())
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
    let r = http
        .get(dash.url("/api/events"))
        .header("Host", bad_host.as_str())
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
    // Same origin with the token: done, and nothing above changed the weights first.
    assert_eq!(
        dash.state().await["routes"][0]["destinations"][0]["weight"],
        50
    );
    let r = put(Some(&own), Some(tok), None).await.expect("send");
    assert_eq!(r.status(), 200);

    // Bad input: 400 naming the field.
    for (path, body, field) in [
        ("/api/weights", "{not json", "body"),
        (
            "/api/weights",
            r#"{"virtualService":"kyc-credit-check","weights":{}}"#,
            "route",
        ),
        (
            "/api/weights",
            r#"{"virtualService":"kyc-credit-check","route":"credit-check-report","weights":{"kyc-credit-check-basic":60,"kyc-credit-check-advanced":30}}"#,
            "weights",
        ),
        (
            "/api/weights",
            r#"{"virtualService":"kyc-credit-check","route":"credit-check-report","weights":{"kyc-credit-check-basic":100,"nobody":0}}"#,
            "weights.nobody",
        ),
        (
            "/api/weights",
            r#"{"virtualService":"nope","route":"credit-check-report","weights":{"a":50,"b":50}}"#,
            "virtualService",
        ),
        (
            "/api/scenario",
            r#"{"scenario":"../../etc/passwd"}"#,
            "scenario",
        ),
        (
            "/api/chaos/kyc-credit-check-basic",
            r#"{"errorRate":2}"#,
            "errorRate",
        ),
        ("/api/load", r#"{"rps":"many"}"#, "rps"),
        ("/api/canary", r#"{"stepWeight":0}"#, "stepWeight"),
    ] {
        let method = if path == "/api/scenario" || path == "/api/canary" {
            "POST"
        } else {
            "PUT"
        };
        let (status, answer) = dash.write(method, path, Some(body)).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(answer["field"], field, "{path} {body}: {answer}");
        assert!(answer["error"].is_string());
    }
    // The scenario picker's path (`kyc-mesh use`): applied, then shown.
    let (status, answer) = dash
        .write(
            "POST",
            "/api/scenario",
            Some(r#"{"scenario":"canary-90-10"}"#),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // The collector rebuilds the view on the switch's event: the next view or the one after.
    let view = poll_async("the scenario on the page's state", WAIT, || async {
        let v = dash.state().await;
        (v["scenario"] == "canary-90-10").then_some(v)
    })
    .await;
    assert!(view["scenarios"]
        .as_array()
        .is_some_and(|s| s.iter().any(|n| n == "canary-50-50")));
    let (status, _) = dash
        .write("POST", "/api/scenario", Some(r#"{"scenario":null}"#))
        .await;
    assert_eq!(status, 200);
    drop(mesh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_and_chaos_from_the_page_and_the_page_survives_its_services_killed() {
    let envoy = require_envoy!();
    let port = free_port();
    let mut args = dashboard_args(port);
    args.extend(["--restart".into(), "never".into()]);
    let net = crate::helpers::networking_copy();
    let mesh = start_with(envoy, net.path().to_path_buf(), vec![], args).await;
    let dash = Dash::open(port).await;

    // A canary started from the page (with its "send traffic"), promoted before our eyes.
    let spec = r#"{"intervalMs":1000,"stepWeight":50,"minRequests":10,"loadRps":40}"#;
    let (status, answer) = dash.write("POST", "/api/canary", Some(spec)).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = dash.write("POST", "/api/canary", Some(spec)).await;
    assert_eq!(status, 409, "one canary at a time: {answer}");
    let view = poll_async(
        "the canary's promotion on the page's state",
        WAIT,
        || async {
            let v = dash.state().await;
            (v["canary"]["phase"] == "promoted").then_some(v)
        },
    )
    .await;
    let checks = view["checks"].as_array().expect("checks");
    assert!(checks.len() >= 2, "{checks:?}");
    assert!(checks.iter().all(|c| c["verdict"] == "pass"), "{checks:?}");
    assert!(checks[0]["canary"]["requests"].as_u64() >= Some(10));
    assert_eq!(view["routes"][0]["destinations"][1]["weight"], 100);
    let dom = rendered_dom(&dash.url("/")).await;
    assert!(
        dom.contains(">promoted<"),
        "the canary panel shows the phase:\n{dom}"
    );
    assert!(dom.contains("verdict-pass"), "and its checks");

    // Chaos through the same path as `kyc-mesh chaos`: applied to the instance, shown, logged.
    let (status, answer) = dash
        .write(
            "PUT",
            "/api/chaos/kyc-credit-check-advanced",
            Some(r#"{"errorRate":0.5,"delayMs":0}"#),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    poll_async("the chaos on the page's state", WAIT, || async {
        (dash.state().await["chaos"][ADVANCED]["errorRate"] == 0.5).then_some(())
    })
    .await;
    let (status, answer) = dash
        .write(
            "PUT",
            "/api/chaos/kyc-nothing",
            Some(r#"{"errorRate":0.5}"#),
        )
        .await;
    assert_eq!(
        (status, &answer["field"]),
        (404, &json!("service")),
        "{answer}"
    );
    let (status, _) = dash
        .write("DELETE", "/api/chaos/kyc-credit-check-advanced", None)
        .await;
    assert_eq!(status, 200);
    let view = poll_async("the chaos events", WAIT, || async {
        let v = dash.state().await;
        let kinds: Vec<&Value> = v["events"].as_array()?.iter().map(|e| &e["kind"]).collect();
        (kinds.iter().filter(|k| **k == "chaos-changed").count() == 2).then_some(v.clone())
    })
    .await;
    assert!(view["chaos"].as_object().is_some_and(|c| c.is_empty()));
    // One instance, by index (the page's instance picker): forwarded to `up`, which names it;
    // an empty instance is a 400 naming the field.
    let (status, answer) = dash
        .write(
            "DELETE",
            "/api/chaos/kyc-credit-check-advanced?instance=0",
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("kyc-credit-check-advanced-0")),
        "{answer}"
    );
    let (status, answer) = dash
        .write(
            "DELETE",
            "/api/chaos/kyc-credit-check-advanced?instance=",
            None,
        )
        .await;
    assert_eq!(
        (status, &answer["field"]),
        (400, &json!("instance")),
        "{answer}"
    );
    // A refusal of `up` reaches the page with its reason: no canary runs any more.
    let (status, answer) = dash.write("POST", "/api/canary/abort", None).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));

    // Kill every service: the page still renders, showing them down.
    let services: Vec<u32> = children(mesh.pid())
        .into_iter()
        .filter(|p| {
            // The program itself, not a sidecar Envoy whose arguments name the workload.
            let line = cmdline(*p);
            let program = line.split(' ').next().unwrap_or_default();
            [AGG, BASIC, ADVANCED]
                .iter()
                .any(|b| std::path::Path::new(program).file_name() == Some(std::ffi::OsStr::new(b)))
        })
        .collect();
    assert_eq!(services.len(), 3, "three services run");
    for pid in &services {
        // SAFETY: kill(2) on a process of this test's mesh.
        unsafe {
            libc::kill(*pid as i32, libc::SIGKILL);
        }
    }
    poll_async("the services to die", WAIT, || async {
        services.iter().all(|p| !alive(*p)).then_some(())
    })
    .await;
    poll_async("the view to show them down", WAIT, || async {
        let v = dash.state().await;
        v["versions"]
            .as_array()?
            .iter()
            .all(|x| x["ready"] == false)
            .then_some(())
    })
    .await;
    let dom = rendered_dom(&dash.url("/")).await;
    assert!(dom.contains("DOWN"), "services shown down:\n{dom}");
    assert!(dom.contains("data-route=\"kyc-credit-check/credit-check-report\""));
    assert!(
        dom.contains("exited"),
        "the exits are in the events list:\n{dom}"
    );
    assert!(unlabelled_controls(&dom).is_empty());
    drop(mesh);
}

#[test]
fn a_dashboard_port_given_to_another_listener_is_refused_before_anything_starts() {
    let state = tempfile::tempdir().expect("tmp");
    let port = free_port().to_string();
    let out = std::process::Command::new(crate::helpers::kyc_mesh())
        .arg("--networking")
        .arg(repo_networking())
        .arg("--state-dir")
        .arg(state.path())
        .args(["--envoy", "/bin/true", "--gateway-port", &port])
        .args(["up", "--external-services", "--no-prometheus"])
        .args(["--dashboard-port", &port])
        .output()
        .expect("up");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("port {port} is given twice")) && err.contains("dashboard"),
        "{err}"
    );
}

/// Ambient mode (docs/ambient.md) with the dashboard and `up`'s OTLP receiver: the page, in a
/// real Chromium, draws the aggregator's calls through its node proxy, the waypoint and the
/// scorers' node proxies (not the gateway) with live figures on the waypoint's edges; a
/// request's trace has the waypoint's span between the aggregator's call and the scorer, and
/// none from a node proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambient_mode_draws_the_node_proxies_and_the_waypoint_live_and_traces_the_waypoint() {
    let envoy = require_envoy!();
    let (port, http_port, grpc_port) = (free_port(), free_port(), free_port());
    let args: Vec<String> = [
        "--dataplane",
        "ambient",
        "--dashboard-port",
        &port.to_string(),
        "--otlp-http-port",
        &http_port.to_string(),
        "--otlp-grpc-port",
        &grpc_port.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mesh = crate::services::start_real(envoy, repo_networking(), None, vec![], args).await;
    let dash = Dash::open(port).await;
    let (status, answer) = dash.write("PUT", "/api/load", Some(r#"{"rps":20}"#)).await;
    assert_eq!(status, 200, "{answer}");

    // The view: each scorer's figures on the waypoint's edge to its node proxy, no gateway
    // between the aggregator and the scorers.
    let waypoint = "waypoint:waypoint";
    let edge_requests = |v: &Value, from: &str, to: &str| {
        v["edges"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["from"] == from && e["to"] == to))
            .and_then(|e| e["figures"]["requests"].as_u64())
    };
    let view = poll_async("the waypoint's figures per scorer", WAIT, || async {
        let v = dash.state().await;
        [BASIC, ADVANCED]
            .iter()
            .all(|s| edge_requests(&v, waypoint, &format!("node-proxy:{s}")) > Some(0))
            .then_some(v)
    })
    .await;
    let np_agg = format!("node-proxy:{AGG}");
    assert!(edge_requests(&view, AGG, &np_agg) > Some(0), "{view}");
    assert!(edge_requests(&view, &np_agg, waypoint) > Some(0), "{view}");
    assert!(
        view["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().all(|n| n["id"] != "gateway-mesh")),
        "{view}"
    );
    assert!(requests(&view, ADVANCED) > 0, "versions from the waypoint");

    // A real browser: the node proxy with what it carries, the waypoint with its HBONE port,
    // and live figures on the waypoint's edges.
    let mut b = crate::helpers::cdp::Browser::start();
    let page = b.open(&dash.url("/"));
    let drawn = b.wait_for_or(
        &page,
        "the node proxies and the waypoint with live figures",
        WAIT,
        &format!(
            r##"(() => {{
                const np = document.querySelector('g[data-node="{np_agg}"] [data-node-proxy]');
                const wp = document.querySelector('g[data-node="{waypoint}"] [data-waypoint]');
                const live = ["{BASIC}", "{ADVANCED}"].every((s) => {{
                    const e = document.querySelector(`g.edge[data-from="{waypoint}"][data-to="node-proxy:${{s}}"]`);
                    return e && /[0-9.]+ req\/s/.test(e.textContent) && parseFloat(e.textContent) > 0;
                }});
                return np && wp && live && JSON.stringify({{
                    nodes: np.dataset.nodeProxy, pods: np.dataset.pods, tab: np.querySelector("text").textContent,
                    waypoint: wp.dataset.waypoint, wpTab: wp.querySelector("text").textContent,
                    wpState: document.querySelector('g[data-node="{waypoint}"] .state').textContent,
                    npState: document.querySelector('g[data-node="{np_agg}"] .state').textContent,
                    box: document.querySelector("#graph").getAttribute("viewBox"),
                }});
            }})()"##
        ),
        r##"JSON.stringify({nodes: [...document.querySelectorAll("#graph g.node")].map((n) => n.dataset.node), edges: [...document.querySelectorAll("#graph g.edge")].map((e) => e.dataset.from + "→" + e.dataset.to + ": " + e.textContent)})"##,
    );
    let drawn: Value = serde_json::from_str(drawn.as_str().expect("JSON")).expect("JSON");
    assert_eq!(drawn["nodes"], "node-1", "{drawn}");
    for pod in [AGG, BASIC, ADVANCED] {
        assert!(
            drawn["pods"]
                .as_str()
                .is_some_and(|p| p.contains(&format!("{pod}-0"))),
            "node-1 carries {pod}: {drawn}"
        );
    }
    let shown = |key: &str| drawn[key].as_str().unwrap_or_default().to_string();
    assert!(shown("tab").starts_with("HBONE mTLS · 3 pods"), "{drawn}");
    assert!(shown("wpTab").starts_with("HBONE :"), "{drawn}");
    assert_eq!(
        drawn["waypoint"], "spiffe://cluster.local/ns/default/sa/waypoint",
        "{drawn}"
    );
    assert_eq!(
        (&drawn["wpState"], &drawn["npState"]),
        (&json!("up"), &json!("up"))
    );
    // One click on the p99 of the waypoint's edge to advanced's node proxy: its slowest
    // traces, timed on the edge (the waypoint's attempts to advanced), the edge as the filter.
    let edge = format!(
        r##"g.edge[data-from="{waypoint}"][data-to="node-proxy:{ADVANCED}"] [data-pick="slowest"]"##
    );
    b.click(&page, &edge);
    let tag = b.wait_for_or(
        &page,
        "the waypoint edge's traces",
        WAIT,
        r##"document.querySelector("#trace-list tbody tr[data-trace]") && document.querySelector("#trace-list tbody tr[data-trace]").textContent.includes("on the edge") && document.querySelector("#traces .filters .tag").textContent"##,
        r##"JSON.stringify({from: tf.from, to: tf.to, rows: document.querySelectorAll("#trace-list tbody tr").length})"##,
    );
    assert!(
        tag.as_str()
            .is_some_and(|t| t.contains(&format!("{waypoint} → node-proxy:{ADVANCED}"))),
        "{tag}"
    );
    let (status, answer) = dash.write("PUT", "/api/load", Some(r#"{"rps":0}"#)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["state"]["load"]["failed"], 0, "{answer}");

    // One request's trace: gateway → aggregator → its call → waypoint (and its attempt) →
    // scorer; the node proxies add none.
    let r = client()
        .get(mesh.url("/kyc/v1/customer?type=report"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let detail = poll_async("a trace through the waypoint", WAIT, || async {
        let list = dash.get_json("/api/traces?limit=50").await?;
        for t in list["traces"].as_array()? {
            let id = t["traceId"].as_str()?;
            let d = dash.get_json(&format!("/api/traces/{id}")).await?;
            let h = crate::traces::hops(&d);
            // Every span in (the services' and the Envoys' exports come a moment apart), and
            // the waypoint's access-log line beside its span.
            let logged = d["spans"].as_array().is_some_and(|s| {
                s.iter().any(|s| {
                    s["hop"]["kind"] == "waypoint"
                        && s["kind"] == "server"
                        && s["accessLog"].as_array().is_some_and(|l| !l.is_empty())
                })
            });
            if logged
                && h.iter().any(|x| x.starts_with("service kyc-credit-check-"))
                && h.iter().any(|x| x == &format!("call {AGG}"))
                && h.iter().filter(|x| *x == "ingress").count() == 2
                && h.iter().filter(|x| *x == "waypoint waypoint").count() == 2
            {
                return Some(d);
            }
        }
        None
    })
    .await;
    let h = crate::traces::hops(&detail);
    let scorer = h
        .iter()
        .filter_map(|x| x.strip_prefix("service "))
        .find(|s| s.starts_with("kyc-credit-check-"))
        .unwrap_or_else(|| panic!("a scorer in {h:?}"))
        .to_string();
    let want = [
        "ingress".to_string(),
        format!("service {AGG}"),
        format!("call {AGG}"),
        "waypoint waypoint".to_string(),
        format!("service {scorer}"),
    ];
    let mut at = 0;
    for w in &want {
        at += h[at..]
            .iter()
            .position(|x| x == w)
            .unwrap_or_else(|| panic!("{w} after position {at} in {h:?}"));
    }
    // Seven spans: the gateway and the waypoint each with their attempt, no other proxy.
    assert_eq!(h.len(), 7, "{h:?}");
    // The waypoint's server span is the aggregator's call's child, and the scorer's span
    // descends from the waypoint's (its attempt); no other proxy in between, no node proxy.
    let spans = detail["spans"].as_array().expect("spans");
    let span = |pred: &dyn Fn(&Value) -> bool| spans.iter().find(|s| pred(s)).cloned();
    let call = span(&|s| s["hop"]["kind"] == "call").expect("the call");
    let wp = span(&|s| s["hop"]["kind"] == "waypoint" && s["kind"] == "server").expect("waypoint");
    assert_eq!(wp["parentId"], call["spanId"], "{detail}");
    assert_eq!(wp["label"], "waypoint · L7 route", "{wp}");
    let id = detail["traceId"].as_str().expect("trace id");
    assert!(
        wp["accessLog"][0]
            .as_str()
            .is_some_and(|l| l.contains(&format!("trace_id={id}")) && l.contains("outbound|8080||")),
        "{wp}"
    );
    let attempt = span(&|s| s["hop"]["kind"] == "waypoint" && s["kind"] == "client")
        .expect("the waypoint's attempt");
    assert_eq!(
        attempt["label"]
            .as_str()
            .map(|l| l.starts_with(&format!("waypoint · L7 route → {scorer}"))),
        Some(true),
        "{attempt}"
    );
    let served =
        span(&|s| s["hop"]["kind"] == "service" && s["hop"]["workload"] == scorer.as_str())
            .expect("the scorer");
    assert_eq!(served["parentId"], attempt["spanId"], "{detail}");
    assert!(
        h.iter()
            .all(|x| !x.starts_with("sidecar") && x != "mesh-route"),
        "{h:?}"
    );
}
