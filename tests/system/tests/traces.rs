//! Traces from the real binaries to a local OTLP/HTTP receiver (protobuf, decoded with the OpenTelemetry
//! proto definitions): one request gives one trace (the caller's `traceparent` → the aggregator's server
//! span → its client span → the scorer's server span), no span carries personal data, and a collector
//! that accepts connections but never answers fails no request and costs one warning.

use std::time::{Duration, Instant};

use kyc_common::testing::{clean_applicant, eventually};
use kyc_system_tests::otlp::{grpc_receiver, receiver, Received};
use kyc_system_tests::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn otel_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000".to_owned()),
    ]
}

async fn start(name: &'static str, vars: &[(&'static str, String)]) -> Child {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Child::start(name, &vars).await
}

#[tokio::test]
async fn one_request_is_one_trace_across_aggregator_and_scorer_without_personal_data() {
    let otlp = receiver().await;
    let env = otel_env(&otlp.url());
    let basic = start("kyc-credit-check-basic", &env).await;
    let advanced = start("kyc-credit-check-advanced", &env).await;
    let gateway = spawn_gateway(basic.addr, advanced.addr).await;
    let mut agg_env = env.clone();
    agg_env.push(("KYC_GATEWAY_URL", gateway.url()));
    let aggregator = start("kyc-aggregator-mgt", &agg_env).await;

    let mut applicant = clean_applicant();
    applicant["firstName"] = serde_json::json!("Zebulon");
    applicant["lastName"] = serde_json::json!("Quarterfield");
    let r = client()
        .post(aggregator.url("/kyc/v1/customer?type=basicReport"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&applicant)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    // Probes are not traced.
    client()
        .get(aggregator.url("/healthz"))
        .send()
        .await
        .expect("probe");

    let trace: Vec<Received> = eventually("three spans of the trace", WAIT, || async {
        let spans: Vec<Received> = otlp
            .spans()
            .into_iter()
            .filter(|s| s.trace_id() == TRACE_ID)
            .collect();
        (spans.len() >= 3).then_some(spans)
    })
    .await;
    let find = |service: &str, kind: i32| {
        trace
            .iter()
            .find(|s| s.service == service && s.span.kind == kind)
            .unwrap_or_else(|| panic!("no kind {kind} span from {service}: {trace:#?}"))
    };
    // SpanKind: 2 server, 3 client.
    let agg_server = find("kyc-aggregator-mgt", 2);
    let agg_client = find("kyc-aggregator-mgt", 3);
    let scorer = find("kyc-credit-check-basic", 2);
    assert_eq!(agg_server.parent_span_id(), CALLER_SPAN);
    assert_eq!(agg_client.parent_span_id(), agg_server.span_id());
    assert_eq!(scorer.parent_span_id(), agg_client.span_id());
    assert_eq!(agg_server.span.name, "POST /kyc/v1/customer");
    assert_eq!(
        agg_server.attribute("http.route").as_deref(),
        Some("/kyc/v1/customer")
    );
    assert_eq!(
        agg_server.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(agg_client.span.name, "POST /credit-check/basic");
    assert_eq!(scorer.span.name, "POST /credit-check/basic");

    let all = otlp.spans();
    assert!(all
        .iter()
        .all(|s| s.attribute("http.route").as_deref() != Some("/healthz")));
    let personal = ["Zebulon", "Quarterfield", "firstName", "passport", "1990"];
    for span in &all {
        let text = span.text();
        for p in personal {
            assert!(!text.contains(p), "{p} in a span: {text}");
        }
    }
}

#[tokio::test]
async fn a_collector_that_never_answers_fails_no_request_and_warns_once() {
    let hanging = spawn_hanging_gateway().await;
    let traced = start(
        "kyc-credit-check-basic",
        &otel_env(&format!("http://{hanging}")),
    )
    .await;
    let plain = start("kyc-credit-check-basic", &[]).await;
    let c = client();
    let mut took = Vec::new();
    for service in [&plain, &traced] {
        let url = service.url("/credit-check/basic?demo=alice");
        let started = Instant::now();
        for _ in 0..300 {
            assert_eq!(c.get(&url).send().await.expect("request").status(), 200);
        }
        took.push(started.elapsed() / 300);
    }
    // A benchmark, not an assertion (the machine is shared): scripts/bench.sh measures it properly.
    eprintln!(
        "mean latency, 300 sequential requests: no tracing {:?}, hanging collector {:?}",
        took[0], took[1]
    );
    let warnings = |c: &Child| {
        c.output
            .lock()
            .map(|o| {
                o.iter()
                    .filter(|l| l.contains("cannot export spans"))
                    .count()
            })
            .unwrap_or(0)
    };
    eventually("the export warning", Duration::from_secs(30), || async {
        (warnings(&traced) >= 1).then_some(())
    })
    .await;
    assert_eq!(
        warnings(&traced),
        1,
        "one warning, however many exports fail"
    );
}

#[tokio::test]
async fn grpc_is_the_other_protocol_and_otel_service_name_renames() {
    let otlp = grpc_receiver().await;
    let mut env = otel_env(&otlp.url());
    env.retain(|(k, _)| *k != "OTEL_EXPORTER_OTLP_PROTOCOL");
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()));
    env.push(("OTEL_SERVICE_NAME", "scorer-under-test".to_owned()));
    let basic = start("kyc-credit-check-basic", &env).await;
    let r = client()
        .get(basic.url("/credit-check/basic?demo=alice"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let span = eventually("a span over gRPC", WAIT, || async {
        otlp.spans()
            .into_iter()
            .find(|s| s.span.name == "GET /credit-check/basic")
    })
    .await;
    assert_eq!(span.service, "scorer-under-test");
}
