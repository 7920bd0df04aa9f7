//! Span names (`METHOD route`) and route attribute values as `'static` strings, made once per
//! (method, route) and reused by every later span: no `format!` and no copy of the route per span, and
//! nothing for the exporter to free. Routes are matched route templates (or the one unmatched label)
//! and methods come from a fixed set, so the set is small; past [`LIMIT`] routes (which this project
//! never reaches) names are simply formatted per span again, so memory stays bounded whatever happens.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

/// At most this many routes are kept (each with its few methods).
const LIMIT: usize = 256;

/// Per route: the route itself, and the span name of each method seen with it.
struct Entry {
    route: &'static str,
    names: Vec<(&'static str, &'static str)>,
}

fn table() -> &'static RwLock<HashMap<Box<str>, Entry>> {
    static TABLE: OnceLock<RwLock<HashMap<Box<str>, Entry>>> = OnceLock::new();
    TABLE.get_or_init(|| RwLock::new(HashMap::new()))
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The span name `METHOD route` and the route, both `'static` when the table has room.
pub fn get(method: &'static str, route: &str) -> (Cow<'static, str>, Cow<'static, str>) {
    {
        let table = table().read().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = table.get(route) {
            if let Some((_, name)) = entry.names.iter().find(|(m, _)| *m == method) {
                return (Cow::Borrowed(name), Cow::Borrowed(entry.route));
            }
        }
    }
    let mut table = table().write().unwrap_or_else(PoisonError::into_inner);
    if table.len() >= LIMIT && !table.contains_key(route) {
        return (
            Cow::Owned(format!("{method} {route}")),
            Cow::Owned(route.to_owned()),
        );
    }
    let entry = table.entry(route.into()).or_insert_with(|| Entry {
        route: leak(route.to_owned()),
        names: Vec::new(),
    });
    let name = match entry.names.iter().find(|(m, _)| *m == method) {
        Some((_, name)) => *name,
        None => {
            let name = leak(format!("{method} {route}"));
            entry.names.push((method, name));
            name
        }
    };
    (Cow::Borrowed(name), Cow::Borrowed(entry.route))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_once_and_reused() {
        let (name, route) = get("POST", "/names/test/{id}");
        assert_eq!(name, "POST /names/test/{id}");
        assert_eq!(route, "/names/test/{id}");
        let (again, _) = get("POST", "/names/test/{id}");
        assert!(
            matches!((&name, &again), (Cow::Borrowed(a), Cow::Borrowed(b)) if std::ptr::eq(*a, *b))
        );
        assert_eq!(get("GET", "/names/test/{id}").0, "GET /names/test/{id}");
    }
}
