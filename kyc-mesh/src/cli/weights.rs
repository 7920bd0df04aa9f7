//! `kyc-mesh weights`: set the weights of one route with several destinations, three ways:
//! on the running mesh as a runtime override (the control channel's `set-weights`, what the
//! dashboard's sliders send), in the file of networking/ that holds the route (`--write`), or
//! printed with only those weights changed (`--print`, for `kubectl apply -f -`:
//! `scripts/canary.sh` uses it). `--clear` drops the running mesh's override.
//!
//! The weights come as `90 10` (the route's destinations in order) or as
//! `kyc-credit-check-basic=90 kyc-credit-check-advanced=10` (by destination host); either way
//! they become one [`Weights`], checked once (whole percentages adding up to 100).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::canary::yaml;
use crate::control::client::call;
use crate::control::protocol::{Request, Response};
use crate::field::FieldError;
use crate::istio::RouteRef;
use crate::registry::RouteMissing;
use crate::snapshot::Sources;
use crate::weights::{self, Weights};

use super::ask::ask;
use super::error::{CliError, Exit};
use super::Common;
use crate::canary::model::{DEFAULT_ROUTE, DEFAULT_VIRTUAL_SERVICE};

#[derive(clap::Args, Debug)]
pub(crate) struct WeightsArgs {
    /// The weights, whole percentages adding up to 100: in the route's destination order
    /// (`90 10`) or by destination host (`kyc-credit-check-basic=90 kyc-credit-check-advanced=10`)
    #[arg(value_name = "WEIGHT", required_unless_present = "clear")]
    weights: Vec<String>,
    /// The VirtualService holding the route
    #[arg(long, default_value = DEFAULT_VIRTUAL_SERVICE)]
    virtual_service: String,
    /// The Gateway API HTTPRoute holding the route instead (ambient mode: the waypoint's,
    /// e.g. kyc-credit-check-canary): a runtime override of its rule named --route; not with
    /// --print/--write (only VirtualServices' files are edited)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["print", "write"])]
    http_route: Option<String>,
    /// Its http route, or the HTTPRoute's rule (by `name`)
    #[arg(long, default_value = DEFAULT_ROUTE)]
    route: String,
    /// Print the networking/ file that holds the route with only these weights changed
    /// (comments and everything else kept; no mesh needed), e.g. for `kubectl apply -f -`
    #[arg(long, conflicts_with_all = ["write", "clear"])]
    print: bool,
    /// Edit that file in place (atomically; refused unless the edit is exact); a running mesh
    /// reloads it
    #[arg(long, conflicts_with = "clear")]
    write: bool,
    /// Drop the running mesh's runtime override of the route: the files' weights apply again
    #[arg(long, conflicts_with = "weights")]
    clear: bool,
}

/// The weights as the user gave them, before they meet a route.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Given {
    /// `90 10`: one per destination, in the route's order.
    InOrder(Vec<u32>),
    /// `host=90 …`.
    ByHost(BTreeMap<String, u32>),
}

/// Read `90 10` or `host=90 host=10`; a mix, a repeated host or a value that is not a whole
/// number is a usage error naming it.
fn parse(args: &[String]) -> Result<Given, CliError> {
    let number = |what: &str, s: &str| {
        s.trim().parse::<u32>().map_err(|_| {
            CliError::Usage(format!(
                "weights: {what}{s:?} is not a whole number from 0 to {}",
                weights::TOTAL
            ))
        })
    };
    if args.iter().all(|a| !a.contains('=')) {
        return args
            .iter()
            .map(|a| number("", a))
            .collect::<Result<_, _>>()
            .map(Given::InOrder);
    }
    let mut by_host = BTreeMap::new();
    for a in args {
        let Some((host, w)) = a.split_once('=') else {
            return Err(CliError::Usage(format!(
                "weights: {a:?}: give every weight by host (HOST=WEIGHT) or none"
            )));
        };
        let host = host.trim();
        if host.is_empty() {
            return Err(CliError::Usage(format!("weights: {a:?} names no host")));
        }
        let w = number(&format!("{host}="), w)?;
        if by_host.insert(host.to_string(), w).is_some() {
            return Err(CliError::Usage(format!("weights: {host} given twice")));
        }
    }
    Ok(Given::ByHost(by_host))
}

/// The weights for a route whose destinations are `hosts`, in order.
fn resolve(given: Given, r: &RouteRef, hosts: &[String]) -> Result<Weights, FieldError> {
    match given {
        Given::ByHost(by_host) => Weights::new(by_host),
        Given::InOrder(list) if list.len() == hosts.len() => {
            Weights::new(hosts.iter().cloned().zip(list).collect())
        }
        Given::InOrder(list) => Err(FieldError::new(
            "weights",
            format!(
                "{} given; {r} has {} destinations ({}), one weight each",
                list.len(),
                hosts.len(),
                hosts.join(", ")
            ),
        )),
    }
}

fn usage(e: FieldError) -> CliError {
    CliError::Usage(e.to_string())
}

/// Long enough for every proxy to apply a new generation.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) async fn run(c: &Common, a: &WeightsArgs) -> Result<Exit, CliError> {
    let holder = a.http_route.as_ref().unwrap_or(&a.virtual_service);
    let r = RouteRef::new(holder, &a.route);
    if a.clear {
        let request = Request::SetWeights {
            virtual_service: r.virtual_service.clone(),
            route: r.route.clone(),
            weights: None,
        };
        return ask(c, request, "set-weights", ANSWER_TIMEOUT).await;
    }
    let given = parse(&a.weights)?;
    if a.print || a.write {
        in_files(c, a, &r, given)
    } else {
        on_the_mesh(c, &r, given).await
    }
}

/// `--print` / `--write`: the route as networking/ (no scenario) spells it.
fn in_files(c: &Common, a: &WeightsArgs, r: &RouteRef, given: Given) -> Result<Exit, CliError> {
    let snapshot = Sources::new(&c.networking)
        .snapshot(None, c.ports())
        .map_err(CliError::CannotRead)?;
    let registry = snapshot.registry();
    let found = registry.http_route(r).map_err(|missing| {
        CliError::Usage(match missing {
            RouteMissing::NoVirtualService => format!(
                "virtualService: no VirtualService {:?} in {}",
                r.virtual_service,
                c.networking.display()
            ),
            RouteMissing::NoRoute { routes } => format!(
                "route: VirtualService {:?} has no http route {:?} (its routes: {})",
                r.virtual_service,
                r.route,
                routes.join(", ")
            ),
        })
    })?;
    let hosts: Vec<String> = found
        .route
        .route
        .iter()
        .map(|d| d.destination.host.clone())
        .collect();
    let w = resolve(given, r, &hosts).map_err(usage)?;
    weights::check(&registry, r, &w).map_err(usage)?;
    let in_order: Vec<u32> = hosts
        .iter()
        .map(|h| w.by_host().get(h).copied().unwrap_or(0))
        .collect();
    let edit = |e: yaml::YamlError| CliError::Unfinished(format!("weights not edited: {e}"));
    if a.print {
        let (_, text) = yaml::edited(&c.networking, r, &in_order).map_err(edit)?;
        print!("{text}");
    } else {
        let file = yaml::write(&c.networking, r, &in_order).map_err(edit)?;
        println!(
            "kyc-mesh: {}: {r} now {w} (a running mesh reloads it; a runtime override of the route still wins: `kyc-mesh weights --clear`)",
            file.display()
        );
    }
    Ok(Exit::Success)
}

/// A runtime override on the running mesh; weights in order are matched with the
/// destinations of the route in force there.
async fn on_the_mesh(c: &Common, r: &RouteRef, given: Given) -> Result<Exit, CliError> {
    let w = match given {
        Given::ByHost(by_host) => Weights::new(by_host).map_err(usage)?,
        in_order @ Given::InOrder(_) => {
            let hosts = hosts_in_force(c, r).await?;
            resolve(in_order, r, &hosts).map_err(usage)?
        }
    };
    let request = Request::SetWeights {
        virtual_service: r.virtual_service.clone(),
        route: r.route.clone(),
        weights: Some(
            w.by_host()
                .iter()
                .map(|(h, w)| (h.clone(), serde_json::Number::from(*w)))
                .collect(),
        ),
    };
    ask(c, request, "set-weights", ANSWER_TIMEOUT).await
}

/// The destination hosts of route `r` in the running mesh's configuration, in order.
async fn hosts_in_force(c: &Common, r: &RouteRef) -> Result<Vec<String>, CliError> {
    let answer = call(&c.state_dir(), Request::State, Duration::from_secs(10)).await?;
    let Response::Done {
        state: Some(state), ..
    } = answer
    else {
        return Err(CliError::Unfinished(format!(
            "unexpected answer to state: {answer:?}"
        )));
    };
    let routes = &state.routes;
    let found = routes
        .iter()
        .find(|w| w.virtual_service == r.virtual_service && w.route == r.route);
    match found {
        Some(w) => Ok(w.destinations.iter().map(|d| d.host.clone()).collect()),
        None => Err(CliError::Usage(format!(
            "route: the running mesh has no weighted route {r} (its weighted routes: {})",
            if routes.is_empty() {
                "none".to_string()
            } else {
                routes
                    .iter()
                    .map(|w| format!("{}/{}", w.virtual_service, w.route))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn message(e: CliError) -> String {
        e.to_string()
    }

    #[test]
    fn weights_are_read_in_order_or_by_host() {
        assert_eq!(
            parse(&args(&["90", "10"])).expect("in order"),
            Given::InOrder(vec![90, 10])
        );
        assert_eq!(
            parse(&args(&["b=90", "a=10"])).expect("by host"),
            Given::ByHost(BTreeMap::from([("a".into(), 10), ("b".into(), 90)]))
        );
        let e = message(parse(&args(&["90", "a=10"])).expect_err("mixed"));
        assert!(e.contains("by host (HOST=WEIGHT) or none"), "{e}");
        let e = message(parse(&args(&["ninety", "10"])).expect_err("word"));
        assert!(e.contains("\"ninety\" is not a whole number"), "{e}");
        let e = message(parse(&args(&["a=-1", "b=101"])).expect_err("negative"));
        assert!(e.contains("a=\"-1\""), "{e}");
        let e = message(parse(&args(&["a=50", "a=50"])).expect_err("twice"));
        assert!(e.contains("a given twice"), "{e}");
        let e = message(parse(&args(&["=50"])).expect_err("no host"));
        assert!(e.contains("names no host"), "{e}");
    }

    #[test]
    fn weights_meet_the_route_once() {
        let r = RouteRef::new("kyc-credit-check", "credit-check-report");
        let hosts = ["basic".to_string(), "advanced".to_string()];
        let w = resolve(Given::InOrder(vec![90, 10]), &r, &hosts).expect("fits");
        assert_eq!(w.by_host().get("basic"), Some(&90));
        assert_eq!(w.by_host().get("advanced"), Some(&10));
        let e = resolve(Given::InOrder(vec![100]), &r, &hosts).expect_err("one short");
        assert_eq!(e.field, "weights");
        assert!(e.message.contains("1 given; kyc-credit-check/credit-check-report has 2 destinations (basic, advanced)"), "{e}");
        let e = resolve(Given::InOrder(vec![90, 20]), &r, &hosts).expect_err("110");
        assert_eq!(e.to_string(), "weights: they add up to 110, not 100");
        let e = resolve(Given::InOrder(vec![150, 0]), &r, &hosts).expect_err("150");
        assert_eq!(e.field, "weights.basic");
    }
}
