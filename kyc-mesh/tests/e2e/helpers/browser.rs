//! The dashboard as a browser and a script see it: a real headless Chromium's rendered DOM,
//! the page's token, its event stream read directly, and an accessibility check of the DOM.

use std::time::Duration;

/// Chromium's flags for every test: headless, in a container, nothing fetched on its own.
pub const HEADLESS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// The DOM after Chromium ran the page's script. `--virtual-time-budget` lets the first
/// render (the `GET /api/state` it waits for) happen; the event stream opens a (virtual)
/// second later, after the budget, so the dump does not wait for a stream that never ends.
pub async fn rendered_dom(url: &str) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let profile = tempfile::tempdir().expect("chromium profile");
    let run = tokio::process::Command::new(&chromium)
        .args(HEADLESS)
        .arg("--virtual-time-budget=500")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| panic!("{chromium} did not finish rendering {url}"))
        .unwrap_or_else(|e| {
            panic!("cannot run `{chromium}` ({e}): install Debian's chromium (scripts/test.sh does) or set CHROMIUM")
        });
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The per-start token of the page's `<meta name="kyc-token">`.
pub fn token(page: &str) -> String {
    let marker = "name=\"kyc-token\" content=\"";
    let start = page.find(marker).expect("token meta") + marker.len();
    let end = page[start..].find('"').expect("token end");
    page[start..start + end].to_string()
}

/// Every control (`input`, `select`, `button`, `textarea`) of `dom` that has no accessible
/// name: no `aria-label`, no `<label for=…>` naming its id, and (a button) no text.
pub fn unlabelled_controls(dom: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for tag in ["<input", "<select", "<button", "<textarea"] {
        let mut rest = dom;
        while let Some(at) = rest.find(tag) {
            let open = &rest[at..];
            let end = open.find('>').unwrap_or(open.len());
            let element = &open[..end];
            rest = &open[end..];
            if element.contains("aria-label=\"") || element.contains("type=\"hidden\"") {
                continue;
            }
            if tag == "<button" {
                let text = rest[1.min(rest.len())..]
                    .split("</button>")
                    .next()
                    .unwrap_or("");
                if !text.trim().is_empty() {
                    continue;
                }
            }
            let id = element
                .split("id=\"")
                .nth(1)
                .and_then(|s| s.split('"').next());
            if let Some(id) = id {
                if dom.contains(&format!("for=\"{id}\"")) {
                    continue;
                }
            }
            missing.push(element.to_string());
        }
    }
    missing
}

/// The next `n` `state` events of the dashboard's event stream at `url`, parsed.
pub async fn read_events(url: &str, n: usize) -> Vec<serde_json::Value> {
    let client = super::http::client();
    let mut r = client.get(url).send().await.expect("GET /api/events");
    assert_eq!(r.status(), 200, "event stream");
    let ctype = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let mut buffer = String::new();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while out.len() < n {
            let Some(chunk) = r.chunk().await.expect("event bytes") else {
                break;
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let data: String = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if block.lines().any(|l| l == "event: state") {
                    out.push(serde_json::from_str(&data).expect("event JSON"));
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "{} of {n} events within 60 s", out.len());
    out
}
