//! A real browser (Debian's headless Chromium) opens Swagger UI and the original's browser URL.
//!
//! Chromium runs Swagger UI's JavaScript, fetches `/api-docs/openapi.json` and renders the operations;
//! `--dump-dom` prints the resulting page. `scripts/test.sh` installs Chromium; set `CHROMIUM` to use
//! another binary.

use kyc_system_tests::*;

async fn rendered_dom(url: &str) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let profile =
        std::env::temp_dir().join(format!("kyc-chromium-{}-{}", std::process::id(), url.len()));
    let run = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| panic!("{chromium} did not finish rendering {url}"))
        .unwrap_or_else(|e| {
            panic!("cannot run `{chromium}` ({e}): install Debian's chromium (scripts/test.sh does) or set CHROMIUM")
        });
    std::fs::remove_dir_all(&profile).ok();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn swagger_ui_renders_the_served_spec_and_the_browser_url_shows_a_report() {
    let basic = spawn_basic(&[]).await;
    let advanced = spawn_advanced(&[]).await;
    let gateway = spawn_gateway(basic.addr, advanced.addr).await;
    let aggregator = spawn_aggregator(&gateway.url(), &[]).await;

    // `/` redirects to Swagger UI, which renders every operation of the served spec.
    let dom = rendered_dom(&aggregator.url("/")).await;
    assert!(
        dom.contains("swagger-ui"),
        "Swagger UI page: {}",
        &dom[..dom.len().min(500)]
    );
    assert!(
        dom.contains("kyc-aggregator-mgt"),
        "the spec's title is rendered"
    );
    for path in [
        "/kyc/v1/customer",
        "/ingress/kyc/v1/customer",
        "/healthz",
        "/readyz",
        "/version",
    ] {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "Swagger UI renders {path} from the served spec"
        );
    }
    assert!(
        dom.contains("opblock-get") && dom.contains("opblock-post"),
        "GET and POST operations"
    );
    // Bearer authentication is declared: the Authorize button (the jwt-auth scenario's token).
    assert!(
        dom.contains("btn authorize"),
        "Swagger UI's Authorize button: {}",
        &dom[..dom.len().min(500)]
    );

    for (service, url) in [
        ("kyc-credit-check-basic", basic.url("/swagger-ui/")),
        ("kyc-credit-check-advanced", advanced.url("/swagger-ui/")),
    ] {
        let dom = rendered_dom(&url).await;
        assert!(
            dom.contains(service),
            "{service} Swagger UI shows its title"
        );
        assert!(
            dom.contains("data-path=\"/credit-check/report\""),
            "{service} documents the canary route"
        );
    }

    // The original's browser URL: a report from one of the scorers, as the browser shows it.
    let dom = rendered_dom(&aggregator.url("/kyc/v1/customer")).await;
    assert!(
        dom.contains("backgroundCheckPass"),
        "a report is shown: {dom}"
    );
    assert!(dom.contains("servedBy"), "it says who served it");
    assert!(dom.contains("\"type\":\"BASIC\"") || dom.contains("\"type\":\"ADVANCED\""));
}
