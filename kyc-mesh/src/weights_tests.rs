//! Weight overrides against the repository's networking/: validation names the field, an
//! override applies on top of the files, a stale one is skipped with a note, the file round-trips.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::istio;

const VS: &str = "kyc-credit-check";
const ROUTE: &str = "credit-check-report";
const BASIC: &str = "kyc-credit-check-basic";
const ADVANCED: &str = "kyc-credit-check-advanced";

fn objects() -> Vec<Loaded> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
    istio::load(&dir, None).expect("networking/ loads")
}

fn numbers(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Number> {
    pairs
        .iter()
        .map(|(h, v)| (h.to_string(), serde_json::from_value(v.clone()).expect("n")))
        .collect()
}

fn route(name: &str) -> RouteRef {
    RouteRef::new(VS, name)
}

/// What a `set-weights` request goes through: parsed at the edge, then held against the registry.
fn validate(
    objects: &[Loaded],
    vs: &str,
    route: &str,
    weights: &BTreeMap<String, serde_json::Number>,
) -> Result<Weights, FieldError> {
    let w = Weights::from_json(weights)?;
    check(&Registry::new(objects), &RouteRef::new(vs, route), &w)?;
    Ok(w)
}

fn report_weights(objects: &[Loaded], o: &Overrides) -> Vec<u32> {
    weighted_routes(objects, o)
        .into_iter()
        .find(|r| r.route.route == ROUTE)
        .expect("route")
        .destinations
        .iter()
        .map(|d| d.weight)
        .collect()
}

#[test]
fn a_valid_request_gives_whole_weights() {
    let w = validate(
        &objects(),
        VS,
        ROUTE,
        &numbers(&[(BASIC, 70.into()), (ADVANCED, 30.into())]),
    )
    .expect("valid");
    assert_eq!(w.get(BASIC), Some(70));
    assert_eq!(w.to_string(), format!("{ADVANCED} 30, {BASIC} 70"));
    // The canary's step, and the one rule every caller shares.
    let step = Weights::split(BASIC, ADVANCED, 30).expect("split");
    assert_eq!(step, w);
    assert!(Weights::split(BASIC, ADVANCED, 101).is_err());
    assert_eq!(sum_to_100([60, 30]), Err(90));
    assert_eq!(sum_to_100([u32::MAX, 1]), Err(u32::MAX), "saturating");
}

#[test]
fn every_bad_request_names_its_field() {
    let objects = objects();
    for (vs, route, w, field) in [
        ("nope", ROUTE, vec![(BASIC, 100.into())], "virtualService"),
        (VS, "nope", vec![(BASIC, 100.into())], "route"),
        (VS, "credit-check-basic", vec![(BASIC, 100.into())], "route"),
        (
            VS,
            ROUTE,
            vec![(BASIC, 60.into()), (ADVANCED, 60.into())],
            "weights:",
        ),
        (
            VS,
            ROUTE,
            vec![(BASIC, 100.into())],
            "weights.kyc-credit-check-advanced",
        ),
        (
            VS,
            ROUTE,
            vec![(BASIC, 90.into()), (ADVANCED, 5.into()), ("x", 5.into())],
            "weights.x",
        ),
        (
            VS,
            ROUTE,
            vec![(BASIC, serde_json::json!(-10)), (ADVANCED, 110.into())],
            "weights.",
        ),
        (
            VS,
            ROUTE,
            vec![
                (BASIC, serde_json::json!(50.5)),
                (ADVANCED, serde_json::json!(49.5)),
            ],
            "weights.",
        ),
    ] {
        let e = validate(&objects, vs, route, &numbers(&w)).expect_err(field);
        assert!(e.to_string().starts_with(field), "{field}: {e}");
        let named = field.trim_end_matches(':');
        assert!(e.field.starts_with(named), "{field}: {}", e.field);
    }
}

#[test]
fn an_override_applies_on_top_and_a_stale_one_is_skipped() {
    let mut o = Overrides::default();
    let w = |pairs: [(&str, u32); 2]| {
        let map = pairs.iter().map(|(h, w)| (h.to_string(), *w)).collect();
        Weights::new(map).expect("weights")
    };
    o.set(&route(ROUTE), Some(&w([(BASIC, 0), (ADVANCED, 100)])));
    let mut objs = objects();
    assert_eq!(report_weights(&objs, &Overrides::default()), [50, 50]);
    assert!(apply(&mut objs, &o).is_empty());
    assert_eq!(report_weights(&objs, &o), [0, 100]);
    assert!(weighted_routes(&objs, &o)[0].overridden);
    // An override for a route that is gone, and one naming a host the route lacks.
    let mut stale = Overrides::default();
    stale.set(&route("gone"), Some(&w([(BASIC, 100), (ADVANCED, 0)])));
    stale.set(&route(ROUTE), Some(&w([(BASIC, 50), ("other", 50)])));
    let mut objs = objects();
    let notes = apply(&mut objs, &stale);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(
        report_weights(&objs, &stale),
        [50, 50],
        "files' weights kept"
    );
    // Cleared.
    o.set(&route(ROUTE), None);
    assert!(o.routes.is_empty());
}

#[test]
fn the_state_file_round_trips_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    assert_eq!(
        Overrides::read(dir.path()).expect("none"),
        Overrides::default()
    );
    let mut o = Overrides::default();
    let w = Weights::new([(BASIC.into(), 10), (ADVANCED.into(), 90)].into()).expect("w");
    o.set(&route(ROUTE), Some(&w));
    o.write(dir.path()).expect("write");
    assert_eq!(Overrides::read(dir.path()).expect("read"), o);
    std::fs::write(path(dir.path()), "{").expect("write");
    let e = Overrides::read(dir.path()).expect_err("bad");
    assert!(e.to_string().contains(FILE), "{e}");
}

/// networking/ with networking/scenarios/ambient.yaml: the waypoint's HTTPRoute.
fn ambient_objects() -> Vec<Loaded> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
    istio::load(&dir, Some(&dir.join("scenarios/ambient.yaml"))).expect("ambient loads")
}

#[test]
fn a_named_httproute_rule_is_a_weighted_route_checked_and_overridden_like_a_virtual_services() {
    let objs = ambient_objects();
    let r = RouteRef::new("kyc-credit-check-canary", ROUTE);
    // Listed after the VirtualServices' routes, with the Service it is attached to.
    let routes = weighted_routes(&objs, &Overrides::default());
    let found = routes
        .iter()
        .find(|w| w.route == r)
        .expect("the HTTPRoute's rule");
    assert_eq!(
        found.kind,
        RouteKind::HttpRoute {
            services: vec![BASIC.to_string()]
        }
    );
    assert_eq!(
        found
            .destinations
            .iter()
            .map(|d| d.weight)
            .collect::<Vec<_>>(),
        [50, 50]
    );
    assert_eq!(routes[0].kind, RouteKind::VirtualService);
    // Checked against the rule's backends; a wrong host and an unknown rule are named.
    let w = Weights::split(BASIC, ADVANCED, 10).expect("weights");
    check(&Registry::new(&objs), &r, &w).expect("fits the rule");
    let e = validate(
        &objs,
        "kyc-credit-check-canary",
        ROUTE,
        &numbers(&[(BASIC, 50.into()), ("nope", 50.into())]),
    )
    .expect_err("not a backend");
    assert_eq!(e.field, "weights.nope");
    let e = check(
        &Registry::new(&objs),
        &RouteRef::new("kyc-credit-check-canary", "other"),
        &w,
    )
    .expect_err("no such rule");
    assert_eq!(e.field, "route");
    assert!(e.message.contains("credit-check-report"), "{e}");
    // Applied to the HTTPRoute's backends.
    let mut o = Overrides::default();
    o.set(&r, Some(&w));
    let mut objs = objs;
    assert!(apply(&mut objs, &o).is_empty());
    let after = weighted_routes(&objs, &o);
    let found = after.iter().find(|w| w.route == r).expect("rule");
    assert!(found.overridden);
    assert_eq!(
        found
            .destinations
            .iter()
            .map(|d| d.weight)
            .collect::<Vec<_>>(),
        [90, 10]
    );
}
