//! The structure the docs promise, checked against the code: no import circle between the
//! files of kyc-mesh/src (a `use` of one file's item by another is an arrow to the file that
//! defines it, re-exports followed; a re-export itself only hands names on), `up/` free of the
//! control protocol's types, and docs/architecture.md naming every file of kyc-mesh/src and
//! no file that does not exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every non-test source file, relative to src/ (`up/config.rs`).
fn files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("src/")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(base).expect("under src/");
            let name = rel.to_string_lossy().into_owned();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "tests" && n != "assets") {
                    walk(&p, base, out);
                }
            } else if name.ends_with(".rs")
                && !name.ends_with("_tests.rs")
                && !name.ends_with("tests.rs")
            {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(&src(), &src(), &mut out);
    out
}

/// The code of a file without its inline test module.
fn code(file: &str) -> String {
    let text = std::fs::read_to_string(src().join(file)).expect("read");
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l.starts_with("#[cfg(test)]") && lines.peek().is_some_and(|n| n.starts_with("mod ")) {
            if lines.peek().is_some_and(|n| n.ends_with(';')) {
                lines.next();
                continue;
            }
            break;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The module path of a file: `up/config.rs` → `["up", "config"]`, `up/mod.rs` → `["up"]`.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// One `use` path of a file (braces expanded), and whether it re-exports (`pub use`).
struct Use {
    path: Vec<String>,
    reexport: bool,
}

/// Every `use` of a file.
fn uses(code: &str) -> Vec<Use> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let lead = rest[line_start..at].trim();
        rest = &rest[at + 4..];
        let is_use = lead.is_empty() || (lead.starts_with("pub") && !lead.contains(' '));
        if !is_use {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        let mut paths = Vec::new();
        expand("", &rest[..end], &mut paths);
        out.extend(paths.into_iter().map(|p| Use {
            path: p.split("::").map(|s| s.trim().to_string()).collect(),
            reexport: !lead.is_empty(),
        }));
        rest = &rest[end..];
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (an `x as y` keeps `x`).
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        let mut parts = Vec::new();
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&inner[start..]);
        let prefix = join(prefix, head);
        for p in parts.into_iter().filter(|p| !p.trim().is_empty()) {
            expand(&prefix, p, out);
        }
    } else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(join(prefix, path));
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.trim().is_empty()) {
        (true, _) => b.trim().to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}::{}", b.trim()),
    }
}

struct Crate {
    /// Module path → its file.
    modules: BTreeMap<Vec<String>, String>,
    /// File → its code.
    code: BTreeMap<String, String>,
}

impl Crate {
    fn load() -> Crate {
        let mut modules = BTreeMap::new();
        let mut code = BTreeMap::new();
        for f in files().into_iter().filter(|f| f != "main.rs") {
            modules.insert(module_of(&f), f.clone());
            code.insert(f.clone(), self::code(&f));
        }
        Crate { modules, code }
    }

    /// `crate::`, `super::`, `self::` paths, absolute; `None` for another crate's.
    fn absolute(&self, from: &[String], is_mod_file: bool, path: &[String]) -> Option<Vec<String>> {
        let mut base: Vec<String> = from.to_vec();
        let mut rest = path;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                base.clear();
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            _ => {
                // A child module named without `self::` (`use envoy_bin::X` in a mod.rs).
                let mut child = from.to_vec();
                child.extend(rest.first().cloned());
                if !(is_mod_file && self.modules.contains_key(&child)) {
                    return None;
                }
            }
        }
        base.extend(rest.iter().filter(|s| *s != "self").cloned());
        Some(base)
    }

    /// The file that defines what `path` (absolute) names, following re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> Option<String> {
        let module_len = (0..=path.len())
            .rev()
            .find(|n| self.modules.contains_key(&path[..*n]))?;
        let module = &path[..module_len];
        let file = self.modules.get(module)?.clone();
        let Some(name) = path.get(module_len) else {
            return Some(file);
        };
        if depth > 8 || name == "*" {
            return Some(file);
        }
        let is_mod = file.ends_with("mod.rs") || file == "lib.rs";
        for Use {
            path: used,
            reexport,
        } in uses(&self.code[&file])
        {
            if !reexport {
                continue;
            }
            let last = used.last().map(String::as_str);
            if last == Some(name.as_str()) || last == Some("*") {
                if let Some(abs) = self.absolute(module, is_mod, &used) {
                    let mut target = abs.clone();
                    if last == Some("*") {
                        target.pop();
                        target.push(name.clone());
                    }
                    if let Some(f) = self.resolve(&target, depth + 1) {
                        if f != file && (last != Some("*") || self.defines(&f, name)) {
                            return Some(f);
                        }
                    }
                }
            }
        }
        Some(file)
    }

    fn defines(&self, file: &str, name: &str) -> bool {
        self.code[file].lines().any(|l| {
            let l = l.trim_start();
            [
                "struct ", "enum ", "fn ", "trait ", "type ", "const ", "static ",
            ]
            .iter()
            .any(|k| l.contains(&format!("{k}{name}")))
        })
    }

    /// File → the files it imports from.
    fn arrows(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut arrows = BTreeMap::new();
        for (module, file) in &self.modules {
            let is_mod = file.ends_with("mod.rs") || file == "lib.rs";
            let to: &mut BTreeSet<String> = arrows.entry(file.clone()).or_default();
            // A re-export only hands names on: who uses the name imports from its definer.
            for Use { path: used, .. } in uses(&self.code[file]).into_iter().filter(|u| !u.reexport)
            {
                let Some(abs) = self.absolute(module, is_mod, &used) else {
                    continue;
                };
                if let Some(target) = self.resolve(&abs, 0) {
                    if &target != file {
                        to.insert(target);
                    }
                }
            }
        }
        arrows
    }
}

/// The circles of a graph: its strongly connected components of two or more files.
fn circles(arrows: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let nodes: Vec<&String> = arrows.keys().collect();
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in arrows.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for n in &nodes {
        let circle: Vec<String> = nodes
            .iter()
            .filter(|m| *m != n && reached[*n].contains(**m) && reached[*m].contains(*n))
            .map(|m| m.to_string())
            .chain(std::iter::once(n.to_string()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if circle.len() > 1 && !out.contains(&circle) {
            out.push(circle);
        }
    }
    out
}

#[test]
fn no_file_of_kyc_mesh_imports_in_a_circle() {
    let arrows = Crate::load().arrows();
    // The check sees arrows at all (the layers the crate doc draws).
    let to = |a: &str, b: &str| arrows.get(a).is_some_and(|t| t.contains(b));
    assert!(
        to("up/reconfigure.rs", "up/config.rs"),
        "{:?}",
        arrows.get("up/reconfigure.rs")
    );
    assert!(
        to("snapshot.rs", "translate/mod.rs"),
        "{:?}",
        arrows.get("snapshot.rs")
    );
    assert!(
        to("up/control.rs", "ops/mod.rs"),
        "{:?}",
        arrows.get("up/control.rs")
    );
    assert!(
        to("control/wire.rs", "ops/event.rs"),
        "re-export followed: {:?}",
        arrows.get("control/wire.rs")
    );
    assert!(to("identity.rs", "files.rs"));
    assert_eq!(circles(&arrows), Vec::<Vec<String>>::new());
    // `up/` speaks domain: the wire protocol's types (requests, answers, events, state) and
    // their mapping stay in `control/` (`up` only binds the socket's server).
    let wire = [
        "control/protocol.rs",
        "control/event.rs",
        "control/state.rs",
        "control/wire.rs",
    ];
    for (file, to) in &arrows {
        if file.starts_with("up/") {
            assert!(
                !to.iter().any(|t| wire.contains(&t.as_str())),
                "{file} imports the control protocol: {to:?}"
            );
        }
    }
}

#[test]
fn a_circle_is_found() {
    let arrows: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(f, t)| (f.to_string(), t.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(circles(&arrows), vec![vec!["a", "b", "c"]]);
    let mut out = Vec::new();
    expand("", "crate::envoy::{route::{A, B as C}, self}", &mut out);
    assert_eq!(
        out,
        [
            "crate::envoy::route::A",
            "crate::envoy::route::B",
            "crate::envoy::self"
        ]
    );
}

#[test]
fn docs_architecture_names_every_file_of_kyc_mesh_src() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md");
    let whole = std::fs::read_to_string(&doc_path).expect("docs/architecture.md");
    // The page's kyc-mesh part (the workspace part before it names the services' files).
    let doc = whole
        .split_once("\n## kyc-mesh")
        .map(|(_, rest)| rest)
        .expect("docs/architecture.md has a `## kyc-mesh` section");
    let files = files();
    let missing: Vec<&String> = files
        .iter()
        .filter(|f| !doc.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not named in docs/architecture.md: {missing:?}"
    );
    // And every `something.rs` it names exists (no drifted name).
    let named: BTreeSet<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| t.ends_with(".rs") && !t.contains(' '))
        .collect();
    let known: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    let stale: Vec<&&str> = named
        .iter()
        .filter(|n| {
            !known.contains(**n)
                && !Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join(n)
                    .exists()
        })
        .collect();
    assert!(
        stale.is_empty(),
        "named in docs/architecture.md, not in the code: {stale:?}"
    );
}
