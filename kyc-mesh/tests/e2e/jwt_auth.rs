//! End-user authentication (networking/scenarios/jwt-auth.yaml) on real Envoys and the real
//! services: every status Istio gives (no token, valid, each kind of bad token, the claim POST
//! needs), hostile tokens, the audit line without personal data, the mesh's own traffic with
//! its demo token (split, the load generator), the dashboard's 401/403 and auth, live reload
//! of the keys and the policy under load, and `up --no-sidecars` refusing the scenario.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kyc_mesh::control::client::call;
use kyc_mesh::control::protocol::{Request, Response};
use kyc_mesh::token::{SigningKey, TokenSpec, DEMO_ISSUER};

use crate::helpers::http::{client, dashboard_state, get};
use crate::helpers::load::Load;
use crate::helpers::mesh::{cli, text, Mesh};
use crate::helpers::AGG;
use crate::helpers::{free_port, kyc_mesh, networking_copy, poll_async, repo_networking, scenario};
use crate::services::{require_binaries, start_real};

/// The README's fictional applicant: none of it may reach a log line.
const APPLICANT: &str = r#"{"firstName":"Alice","lastName":"Martin","dateOfBirth":"1990-04-12","gender":"female","maritalStatus":"single","citizenship":"FR","currentResidenceCountry":"FRA","passportNumber":"FR1234567","passportExpiryDate":"2035-09-30","passportCountryOfIssue":"FR"}"#;

fn demo_pem(kid: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("demo-keys/{kid}.pem"));
    std::fs::read_to_string(p).expect("demo key")
}

/// A token from `spec`, signed by the demo key `kid`.
fn signed(kid: &str, spec: &TokenSpec) -> String {
    SigningKey::demo(kid)
        .expect("demo key")
        .sign(&spec.claims().expect("claims"))
        .expect("sign")
}

fn spec(sub: &str, scopes: &[&str]) -> TokenSpec {
    TokenSpec::demo(sub, scopes, Duration::from_secs(600))
}

/// A token with any header and payload (JSON), and `signature` as its third part.
fn forged(header: &str, payload: &str, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// (status, body) of one request with `authorization` (or none) and extra headers.
async fn ask(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut r = c.request(method, url);
    if let Some(t) = token {
        r = r.header("authorization", t);
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let a = r.send().await.unwrap_or_else(|e| panic!("{url}: {e:?}"));
    (a.status().as_u16(), a.text().await.unwrap_or_default())
}

/// The audit lines the aggregator wrote so far.
fn audit_lines(mesh: &Mesh) -> Vec<String> {
    mesh.output()
        .lines()
        .filter(|l| l.contains(r#""audit":"kyc-report""#))
        .map(String::from)
        .collect()
}

/// The aggregator sidecar's allocated heap (Envoy's admin `/memory`).
async fn sidecar_heap(mesh: &Mesh) -> u64 {
    let status = kyc_mesh::status::read(mesh.state_dir.path()).expect("status");
    let admin = status
        .workloads
        .iter()
        .find(|w| w.name == AGG)
        .and_then(|w| w.sidecar.as_ref())
        .map(|s| s.admin)
        .expect("the aggregator's sidecar");
    let m: serde_json::Value = client()
        .get(format!("http://127.0.0.1:{admin}/memory"))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    m["allocated"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("allocated")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_auth_gives_istios_statuses_audits_without_personal_data_and_keeps_the_meshs_traffic_flowing(
) {
    let envoy = require_envoy!();
    let dashboard = free_port();
    let mesh = start_real(
        envoy,
        repo_networking(),
        Some(scenario("jwt-auth.yaml")),
        vec![],
        vec!["--dashboard-port".into(), dashboard.to_string()],
    )
    .await;
    let c = client();
    let get_ = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let gateway = mesh.url("/kyc/v1/customer");
    let direct = format!("http://127.0.0.1:{}/kyc/v1/customer", mesh.aggregator);
    let alice = bearer(&signed("kyc-demo-1", &spec("alice", &["kyc.read"])));
    for url in [&gateway, &direct] {
        // No token: RequestAuthentication lets it through, the AuthorizationPolicy refuses.
        assert_eq!(
            ask(&c, get_.clone(), url, None, None).await,
            (403, "RBAC: access denied".into()),
            "{url}"
        );
        let (s, body) = ask(&c, get_.clone(), url, Some(&alice), None).await;
        assert_eq!(s, 200, "{url}: {body}");
    }
    // Each bad token: Envoy's own answer.
    let now = kyc_mesh::token::unix_now();
    let mut expired = spec("alice", &[]);
    expired.expires_in = Duration::from_secs(60);
    let expired = SigningKey::demo("kyc-demo-1")
        .expect("key")
        .sign(&expired.claims_at(now - 3600).expect("claims"))
        .expect("sign");
    let mut later = spec("alice", &[]);
    later.not_before = 3600;
    let mut evil = spec("alice", &[]);
    evil.issuer = "evil@attacker.example".into();
    let mut elsewhere = spec("alice", &[]);
    elsewhere.audiences = vec!["another-api".into()];
    // Signed by demo key 2 while naming key 1: the signature does not verify.
    let wrong_key = SigningKey::from_pem("kyc-demo-1", &demo_pem("kyc-demo-2"), "demo 2")
        .expect("key")
        .sign(&spec("alice", &[]).claims().expect("claims"))
        .expect("sign");
    let unknown_kid = SigningKey::from_pem("no-such-key", &demo_pem("kyc-demo-1"), "demo 1")
        .expect("key")
        .sign(&spec("alice", &[]).claims().expect("claims"))
        .expect("sign");
    let payload = serde_json::to_string(&spec("alice", &[]).claims().expect("c")).expect("json");
    let alg_none = forged(r#"{"alg":"none","typ":"JWT"}"#, &payload, "");
    let alg_none_signed = forged(r#"{"alg":"none","kid":"kyc-demo-1"}"#, &payload, "c2ln");
    // HS256 with the RSA public key as the secret (the classic key-confusion attack).
    let public = SigningKey::demo("kyc-demo-1")
        .expect("k")
        .jwk()
        .expect("jwk");
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some("kyc-demo-1".into());
    let confused = jsonwebtoken::encode(
        &hs,
        &spec("alice", &[]).claims().expect("c"),
        &jsonwebtoken::EncodingKey::from_secret(public.n.as_bytes()),
    )
    .expect("hs256");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("expired", expired.clone(), 401, "Jwt is expired"),
        (
            "not yet valid",
            signed("kyc-demo-1", &later),
            401,
            "Jwt not yet valid",
        ),
        (
            "wrong issuer",
            signed("kyc-demo-1", &evil),
            401,
            "Jwt issuer is not configured",
        ),
        (
            "wrong audience",
            signed("kyc-demo-1", &elsewhere),
            403,
            "Audiences in Jwt are not allowed",
        ),
        ("bad signature", wrong_key, 401, "Jwt verification fails"),
        (
            "unknown kid",
            unknown_kid,
            401,
            "Jwks doesn't have key to match kid or alg from Jwt",
        ),
        (
            "alg none",
            alg_none,
            401,
            "Jwt is not in the form of Header.Payload.Signature",
        ),
        ("alg none with a signature", alg_none_signed, 401, "Jwt"),
        (
            "HS256 with the public key",
            confused,
            401,
            "Jwks doesn't have key to match kid or alg from Jwt",
        ),
    ];
    for (what, token, status, message) in &cases {
        for url in [&gateway, &direct] {
            let (s, body) = ask(&c, get_.clone(), url, Some(&bearer(token)), None).await;
            println!("{what}: {s} {body}");
            assert_eq!(s, *status, "{what} at {url}: {body}");
            assert!(body.starts_with(message), "{what} at {url}: {body}");
        }
    }
    // POST (personal data) needs scope kyc.write or group kyc-officers.
    let (s, body) = ask(&c, post.clone(), &direct, Some(&alice), Some(APPLICANT)).await;
    assert_eq!((s, body.as_str()), (403, "RBAC: access denied"));
    let writer = bearer(&signed(
        "kyc-demo-1",
        &spec("bob", &["kyc.read", "kyc.write"]),
    ));
    let mut officer = spec("carol", &[]);
    officer.groups = vec!["kyc-officers".into()];
    let officer = bearer(&signed("kyc-demo-2", &officer));
    for t in [&writer, &officer] {
        let (s, body) = ask(&c, post.clone(), &gateway, Some(t), Some(APPLICANT)).await;
        assert_eq!(s, 200, "{body}");
    }
    // Probes, version, metrics, Swagger UI and the OpenAPI document stay open.
    for path in [
        "/healthz",
        "/readyz",
        "/version",
        "/metrics",
        "/swagger-ui/",
        "/api-docs/openapi.json",
    ] {
        let url = format!("http://127.0.0.1:{}{path}", mesh.aggregator);
        let a = get(&c, &url, &[]).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
    }
    let doc: serde_json::Value = serde_json::from_str(
        &get(
            &c,
            &format!("http://127.0.0.1:{}/api-docs/openapi.json", mesh.aggregator),
            &[],
        )
        .await
        .body,
    )
    .expect("openapi");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    // A subject sent by the client is replaced by the verified one.
    let spoofed = c
        .get(&direct)
        .header("authorization", &alice)
        .header("x-kyc-subject", "mallory")
        .header("x-kyc-issuer", "evil@attacker.example")
        .send()
        .await
        .expect("get");
    assert_eq!(spoofed.status().as_u16(), 200);

    // Hostile tokens: each refused with its status, the sidecar keeps its memory and answers.
    let heap_before = sidecar_heap(&mesh).await;
    let huge = forged(
        r#"{"alg":"RS256","kid":"kyc-demo-1"}"#,
        &format!(
            r#"{{"iss":"{DEMO_ISSUER}","aud":"kyc-api","sub":"x","pad":"{}"}}"#,
            "a".repeat(40_000)
        ),
        "c2ln",
    );
    let deep = forged(
        r#"{"alg":"RS256","kid":"kyc-demo-1"}"#,
        &format!(
            r#"{{"iss":"{DEMO_ISSUER}","aud":"kyc-api","sub":"x","a":{}1{}}}"#,
            r#"{"a":"#.repeat(4000),
            "}".repeat(4000)
        ),
        "c2ln",
    );
    let oversized = format!("Bearer {}", "a".repeat(64 * 1024));
    let hostile: Vec<(&str, String, u16)> = vec![
        ("64 KB Authorization header", oversized, 431),
        ("huge claims", bearer(&huge), 401),
        ("deeply nested claims", bearer(&deep), 401),
        ("garbage base64", "Bearer !!!.@@@.###".into(), 401),
        (
            "another audience",
            bearer(&signed("kyc-demo-1", &elsewhere)),
            403,
        ),
        ("replayed expired token", bearer(&expired), 401),
    ];
    for round in 0..30 {
        for (what, header, status) in &hostile {
            for url in [&gateway, &direct] {
                let (s, body) = ask(&c, get_.clone(), url, Some(header), None).await;
                if round == 0 {
                    println!("{what}: {s} {}", &body[..body.len().min(80)]);
                }
                assert_eq!(s, *status, "{what} at {url}: {body}");
            }
        }
    }
    let (s, _) = ask(&c, get_.clone(), &direct, Some(&alice), None).await;
    assert_eq!(s, 200, "still serving after the hostile tokens");
    let heap_after = sidecar_heap(&mesh).await;
    println!("aggregator sidecar heap: {heap_before} → {heap_after} bytes");
    assert!(
        heap_after < heap_before + 16 * 1024 * 1024,
        "the sidecar's heap grew from {heap_before} to {heap_after}"
    );

    // The audit trail: a line per report that reached the service, with the verified subject,
    // never the applicant's data or a token.
    poll_async("audit lines", Duration::from_secs(10), || async {
        (audit_lines(&mesh).len() >= 6).then_some(())
    })
    .await;
    let lines = audit_lines(&mesh);
    for l in &lines {
        for secret in [
            "Martin",
            "FR1234567",
            "1990-04-12",
            "Bearer",
            "eyJ",
            "mallory",
        ] {
            assert!(!l.contains(secret), "{secret} in an audit line: {l}");
        }
        assert!(l.contains(r#""identity":"verified""#), "{l}");
    }
    assert!(lines.iter().any(|l| l.contains(r#""subject":"bob""#)
        && l.contains(r#""method":"POST""#)
        && l.contains(r#""outcome":"served""#)
        && l.contains(r#""served_by":"kyc-credit-check-"#)));
    let all = mesh.output();
    for secret in ["FR1234567", "Martin", &alice[7..]] {
        assert!(!all.contains(secret), "{secret} reached a log line");
    }
    let metrics = get(
        &c,
        &format!("http://127.0.0.1:{}/metrics", mesh.aggregator),
        &[],
    )
    .await
    .body;
    assert!(
        metrics.contains(r#"kyc_reports_total{outcome="served",identity="verified"}"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains("alice") && !metrics.contains("subject="),
        "no subject label"
    );

    // The mesh's own traffic carries a demo token: split and the load generator.
    let gw = mesh.gateway.to_string();
    let out = cli(&mesh, &["--gateway-port", &gw, "split", "20"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("with a bearer token"), "{}", text(&out));
    let state = mesh.state_dir.path().to_path_buf();
    let wait = Duration::from_secs(20);
    assert!(matches!(
        call(&state, Request::Load { rps: 20 }, wait)
            .await
            .expect("load"),
        Response::Done { .. }
    ));
    let load = poll_async("20 loaded requests", wait, || async {
        match call(&state, Request::State, wait).await.ok()? {
            Response::Done { state: Some(s), .. } if s.load.ok + s.load.failed >= 20 => {
                Some(s.load)
            }
            _ => None,
        }
    })
    .await;
    call(&state, Request::Load { rps: 0 }, wait)
        .await
        .expect("stop");
    assert_eq!(
        load.failed, 0,
        "the load generator's POSTs under jwt-auth: {load:?}"
    );

    // The dashboard: the auth in force, and the 403s on the gateway → aggregator edge.
    for _ in 0..3 {
        ask(&c, get_.clone(), &gateway, None, None).await;
    }
    let view = poll_async("the dashboard's 403s", wait, || async {
        let v = dashboard_state(dashboard).await?;
        let edge = v["edges"]
            .as_array()?
            .iter()
            .find(|e| e["from"] == "gateway" && e["to"] == AGG)?
            .clone();
        (edge["figures"]["forbidden"].as_u64()? >= 3).then_some(v)
    })
    .await;
    assert_eq!(view["auth"]["issuers"][0], DEMO_ISSUER, "{}", view["auth"]);
    assert_eq!(view["auth"]["demoTokens"], true);
}

/// networking/ and a copy of the scenario, both editable.
fn editable_scenario() -> (tempfile::TempDir, PathBuf) {
    let dir = networking_copy();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("mkdir");
    let file = scenarios.join("jwt-auth.yaml");
    std::fs::copy(scenario("jwt-auth.yaml"), &file).expect("copy");
    (dir, file)
}

fn edit(file: &Path, f: impl FnOnce(String) -> String) {
    let text = f(std::fs::read_to_string(file).expect("read"));
    // Saved as an editor saves: a whole new file at once.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, file).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_policy_reload_live_under_load_without_failing_a_valid_request() {
    let envoy = require_envoy!();
    let (dir, file) = editable_scenario();
    let mesh = start_real(
        envoy,
        dir.path().to_path_buf(),
        Some(file.clone()),
        vec![],
        vec![],
    )
    .await;
    let c = client();
    let direct = format!("http://127.0.0.1:{}/kyc/v1/customer", mesh.aggregator);
    let gateway = mesh.url("/kyc/v1/customer");
    // The load signs with the next key (kyc-demo-2); the rotation removes the first.
    let next = bearer(&signed("kyc-demo-2", &spec("load", &["kyc.read"])));
    let old = bearer(&signed("kyc-demo-1", &spec("old", &["kyc.read"])));
    let no_scope = bearer(&signed("kyc-demo-2", &spec("no-scope", &[])));
    let load = Load::start_with_headers(
        &[
            gateway.clone(),
            gateway.clone(),
            direct.clone(),
            direct.clone(),
        ],
        &[("authorization", &next)],
    );
    load.flows_on("load before the edits", 20).await;
    let status = |token: String| {
        let (c, url) = (c.clone(), direct.clone());
        async move {
            ask(&c, reqwest::Method::GET, &url, Some(&token), None)
                .await
                .0
        }
    };
    assert_eq!(status(old.clone()).await, 200);
    // 1. Rotation: the old key leaves the JWKS; its tokens get 401, live.
    edit(&file, |t| {
        t.lines()
            .filter(|l| !l.contains(r#""kid":"kyc-demo-1""#))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    poll_async(
        "old-key tokens refused",
        Duration::from_secs(20),
        || async { (status(old.clone()).await == 401).then_some(()) },
    )
    .await;
    load.flows_on("load after the rotation", 20).await;
    // 2. The policy: GET now needs scope kyc.read (the load's token has it).
    edit(&file, |t| {
        t.replacen(
            "            paths: [\"/kyc/v1/customer\", \"/ingress/kyc/v1/customer\"]\n---",
            "            paths: [\"/kyc/v1/customer\", \"/ingress/kyc/v1/customer\"]\n      when:\n        - key: request.auth.claims[scope]\n          values: [\"kyc.read\"]\n---",
            1,
        )
    });
    poll_async(
        "a token without kyc.read refused",
        Duration::from_secs(20),
        || async { (status(no_scope.clone()).await == 403).then_some(()) },
    )
    .await;
    load.flows_on("load after the policy edit", 20).await;
    // 3. Back to networking/ alone and to the scenario: tokens are ignored, then checked again.
    for s in ["none", &file.display().to_string()] {
        let out = mesh.use_scenario(s);
        assert!(out.status.success(), "{}", text(&out));
        load.flows_on("load after a switch", 20).await;
    }
    let sent = load
        .stop_without_failures("key rotation and policy edits under load", &mesh.output())
        .await;
    assert!(sent >= 100, "only {sent} requests");
}

/// A connection open across a change of the aggregator sidecar's listener (here the JWT
/// filter comes, with a policy that needs a verified token) is served by the listener that
/// accepted it, with that listener's routes, and told to close; new connections get the new
/// listener and its routes. Never the new routes on the old listener: a valid token refused
/// with 403 (no JWT filter to verify it), as a run under load once saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_open_across_a_listener_change_keeps_its_listeners_routes_and_is_closed() {
    let envoy = require_envoy!();
    let file = scenario("jwt-auth.yaml");
    let mesh = start_real(envoy, repo_networking(), Some(file.clone()), vec![], vec![]).await;
    let direct = format!("http://127.0.0.1:{}/kyc/v1/customer", mesh.aggregator);
    let token = bearer(&signed("kyc-demo-1", &spec("held", &["kyc.read"])));
    let out = mesh.use_scenario("none");
    assert!(out.status.success(), "{}", text(&out));
    // One connection, kept: one request at a time, one idle connection in the pool.
    let held = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let first = held.get(&direct).send().await.expect("before the change");
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers().get("connection"), None);
    let _ = first.bytes().await;
    let out = mesh.use_scenario(&file.display().to_string());
    assert!(out.status.success(), "{}", text(&out));
    let on_old = held
        .get(&direct)
        .header("authorization", &token)
        .send()
        .await
        .expect("on the held connection");
    let status = on_old.status().as_u16();
    let close = on_old.headers().get("connection").cloned();
    let body = on_old.text().await.unwrap_or_default();
    assert_eq!(status, 200, "the old listener with the new routes: {body}");
    assert_eq!(
        close.as_ref().and_then(|v| v.to_str().ok()),
        Some("close"),
        "served by the draining listener, which asks the client to reconnect"
    );
    let fresh = client();
    let get = reqwest::Method::GET;
    assert_eq!(
        ask(&fresh, get.clone(), &direct, Some(&token), None)
            .await
            .0,
        200
    );
    assert_eq!(ask(&fresh, get, &direct, None, None).await.0, 403);
}

#[test]
fn up_without_sidecars_refuses_the_scenario_and_says_why() {
    let Some(envoy) = crate::helpers::envoy() else {
        return;
    };
    require_binaries();
    let state = tempfile::tempdir().expect("tmp");
    let port = |_| free_port().to_string();
    let ports: Vec<String> = (0..5).map(port).collect();
    let out = Command::new(kyc_mesh())
        .arg("--networking")
        .arg(repo_networking())
        .arg("--scenario")
        .arg(scenario("jwt-auth.yaml"))
        .args(["--aggregator-port", &ports[0], "--basic-port", &ports[1]])
        .args(["--advanced-port", &ports[2], "--gateway-port", &ports[3]])
        .args(["--admin-port", &ports[4]])
        .arg("--state-dir")
        .arg(state.path())
        .arg("--envoy")
        .arg(envoy)
        .args(["up", "--no-sidecars", "--no-prometheus", "--no-dashboard"])
        .output()
        .expect("up");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("RequestAuthentication \"kyc-aggregator-mgt-jwt\"")
            && said.contains("no sidecars in this mesh"),
        "{said}"
    );
    // And `kyc-mesh token` needs no mesh.
    let out = Command::new(kyc_mesh())
        .args(["token", "--sub", "alice"])
        .output()
        .expect("token");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split('.')
            .count(),
        3
    );
    let out = Command::new(kyc_mesh())
        .args(["token", "--kid", "nope"])
        .output()
        .expect("token");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("kyc-demo-1, kyc-demo-2"),
        "{}",
        text(&out)
    );
}
