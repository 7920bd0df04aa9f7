//! `kyc-mesh weights` and `kyc-mesh split --url` against a running mesh (stand-in backends on a
//! copy of networking/): a runtime override in the route's order and by host moves the split,
//! bad weights are refused naming the field (exit 2), `--clear` gives the files' weights back,
//! `--print` prints the file with only the weights changed and writes nothing, `--write` edits
//! the file and the running mesh follows; `split --url` sends to any URL it is given.

use std::time::Duration;

use crate::helpers::backend::backends;
use crate::helpers::http::{client, count, tally};
use crate::helpers::mesh::{cli, mesh_with, text};
use crate::helpers::{kyc_mesh, networking_copy, poll_async, ADVANCED, BASIC};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_moves_the_running_split_and_edits_the_file() {
    let envoy = require_envoy!();
    let b = backends().await;
    let dir = networking_copy();
    let routing = dir.path().join("kyc-credit-check-istio-routing.yaml");
    let original = std::fs::read_to_string(&routing).expect("routing file");
    let mesh = mesh_with(&envoy, &b, dir.path(), None).await;
    let c = client();
    let report = mesh.url("/credit-check/report");
    let only = |who: &'static str| {
        let (c, report) = (c.clone(), report.clone());
        async move {
            poll_async(&format!("only {who} answering"), WAIT, || async {
                let m = tally(&c, &report, 30, &[]).await;
                (count(&m, who) == 30).then_some(())
            })
            .await
        }
    };

    // A runtime override, in the route's destination order.
    let out = cli(&mesh, &["weights", "0", "100"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("kyc-credit-check/credit-check-report"),
        "{}",
        text(&out)
    );
    only(ADVANCED).await;
    // By host.
    let out = cli(
        &mesh,
        &[
            "weights",
            "kyc-credit-check-basic=100",
            "kyc-credit-check-advanced=0",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    only(BASIC).await;

    // Refused, naming the field; nothing changes.
    for (args, says) in [
        (
            vec!["weights", "90", "20"],
            "weights: they add up to 110, not 100",
        ),
        (
            vec!["weights", "kyc-credit-check-basic=90", "nope=10"],
            "weights.nope",
        ),
        (vec!["weights", "--route", "nope", "50", "50"], "route:"),
        (vec!["weights", "50"], "1 given"),
    ] {
        let out = cli(&mesh, &args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    only(BASIC).await;

    // --clear: the files' 50/50 again.
    let out = cli(&mesh, &["weights", "--clear"]).await;
    assert!(out.status.success(), "{}", text(&out));
    poll_async("both scorers again", WAIT, || async {
        let m = tally(&c, &report, 60, &[]).await;
        (count(&m, BASIC) > 0 && count(&m, ADVANCED) > 0).then_some(())
    })
    .await;

    // --print: the file with only the two weights changed; nothing written.
    let out = cli(&mesh, &["weights", "--print", "90", "10"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let expected =
        original
            .replacen("weight: 50", "weight: 90", 1)
            .replacen("weight: 50", "weight: 10", 1);
    assert_ne!(expected, original, "the repository's route is 50/50");
    assert_eq!(printed, expected);
    assert_eq!(
        std::fs::read_to_string(&routing).expect("routing"),
        original
    );

    // --write: the file is edited (comments kept) and the running mesh follows.
    let out = cli(&mesh, &["weights", "--write", "0", "100"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(&routing).expect("routing");
    assert_eq!(
        written,
        original
            .replacen("weight: 50", "weight: 0", 1)
            .replacen("weight: 50", "weight: 100", 1)
    );
    only(ADVANCED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_sends_to_any_url_it_is_given() {
    let envoy = require_envoy!();
    let b = backends().await;
    let dir = networking_copy();
    let mesh = mesh_with(&envoy, &b, dir.path(), None).await;
    // `localhost`, not the 127.0.0.1 `--via` uses: the URL is used as given.
    let url = format!("http://localhost:{}/credit-check/report", mesh.gateway);
    let out = cli(&mesh, &["split", "60", "--url", &url, "--timeout", "5s"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!("sending 60 requests to {url}")),
        "{shown}"
    );
    assert!(shown.contains(BASIC) && shown.contains(ADVANCED), "{shown}");
    // A route nobody serves: counted as failures, exit 1.
    let out = cli(
        &mesh,
        &[
            "split",
            "5",
            "--url",
            &format!("http://localhost:{}/nope", mesh.gateway),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("HTTP 404"), "{}", text(&out));
    // Not a URL it can send to: a usage error naming it.
    let out = std::process::Command::new(kyc_mesh())
        .args(["split", "--url", "gopher://x/"])
        .output()
        .expect("split");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only http:// and https://"));
}
