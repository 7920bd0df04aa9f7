//! The outcome as YAML: the snippet to commit, and `--write`'s targeted edit of the `weight:`
//! lines of one route in networking/ (comments and everything else kept byte for byte),
//! re-read by the loader before the file is replaced atomically.

use std::path::{Path, PathBuf};

use crate::istio::{self, RouteRef};
use crate::registry::Registry;
use crate::snapshot::{Rejected, Sources};
use crate::weights::{self, WeightedRoute};

/// Why `--write` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum YamlError {
    #[error("networking/ does not load: {0}")]
    Load(String),
    #[error("VirtualService {vs} is in {files} files of {networking}; cannot tell which to edit")]
    NotOneFile {
        vs: String,
        files: usize,
        networking: String,
    },
    #[error("{0} is an HTTPRoute: only a VirtualService's `weight:` lines of networking/ are edited; set its backendRefs' weights in its file (the snippet above)")]
    HttpRoute(String),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("found {lines} `name: {route}` lines; cannot edit exactly")]
    RouteLines { route: String, lines: usize },
    #[error("route {route} has {lines} `weight:` lines for {destinations} destinations; cannot edit exactly")]
    WeightLines {
        route: String,
        lines: usize,
        destinations: usize,
    },
    #[error("weights {0:?} add up to {1}, not {total}", total = weights::TOTAL)]
    Total(Vec<u32>, u32),
    #[error("the edited file would not load ({0}); not written")]
    Reread(String),
    #[error("the edit would give {got:?}, not {want:?}; {file} not written")]
    Mismatch {
        got: Option<Vec<u32>>,
        want: Vec<u32>,
        file: String,
    },
}

/// The route's destinations with their weights, as the VirtualService (or the HTTPRoute)
/// spells them.
pub(crate) fn snippet(route: &WeightedRoute) -> String {
    if let weights::RouteKind::HttpRoute { .. } = route.kind {
        let mut out = format!(
            "# HTTPRoute {}, rule {}:\n      backendRefs:\n",
            route.route.virtual_service, route.route.route
        );
        for d in &route.destinations {
            out.push_str(&format!(
                "        - name: {}\n          weight: {}\n",
                d.host, d.weight
            ));
        }
        return out;
    }
    let mut out = format!(
        "# VirtualService {}, http route {}:\n      route:\n",
        route.route.virtual_service, route.route.route
    );
    for d in &route.destinations {
        out.push_str(&format!(
            "        - destination:\n            host: {}\n",
            d.host
        ));
        if let Some(s) = &d.subset {
            out.push_str(&format!("            subset: {s}\n"));
        }
        out.push_str(&format!("          weight: {}\n", d.weight));
    }
    out
}

/// The files of networking/ (no scenario) that hold VirtualService `vs`.
pub(crate) fn files_of(networking: &Path, vs: &str) -> Result<Vec<PathBuf>, YamlError> {
    let files = Sources::new(networking).read(None).map_err(|e| {
        let first = match &e {
            Rejected::Load(errs) => errs.first().map(|e| e.to_string()).unwrap_or_default(),
            other => other.to_string(),
        };
        YamlError::Load(first)
    })?;
    Ok(Registry::new(&files.objects)
        .virtual_services_named(vs)
        .map(|(l, _)| l.origin.file.clone())
        .collect())
}

/// Set the weights of route `r` in the file of networking/ that holds its VirtualService;
/// `weights` in destination order, adding up to 100. Returns the file. Refused (nothing
/// written) unless the edit can be made exactly (see [`edited`]).
pub(crate) fn write(
    networking: &Path,
    r: &RouteRef,
    weights: &[u32],
) -> Result<PathBuf, YamlError> {
    let (file, text) = edited(networking, r, weights)?;
    crate::files::write_atomic(&file, &text)
        .map_err(|e| YamlError::Io(file.display().to_string(), e))?;
    Ok(file)
}

/// The file of networking/ that holds route `r`'s VirtualService, and its text with only the
/// route's `weight:` numbers changed to `weights` (destination order, adding up to 100): what
/// [`write`] writes and `kyc-mesh weights --print` prints. Refused unless the edit can be made
/// exactly: one file with that VirtualService, one `weight:` line per destination in the
/// route's block, and the edited text loads with exactly those weights.
pub(crate) fn edited(
    networking: &Path,
    r: &RouteRef,
    weights: &[u32],
) -> Result<(PathBuf, String), YamlError> {
    weights::sum_to_100(weights.iter().copied())
        .map_err(|total| YamlError::Total(weights.to_vec(), total))?;
    let files = files_of(networking, &r.virtual_service)?;
    let [file] = files.as_slice() else {
        return Err(YamlError::NotOneFile {
            vs: r.virtual_service.clone(),
            files: files.len(),
            networking: networking.display().to_string(),
        });
    };
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| YamlError::Io(shown.clone(), e))?;
    let edited = edit(&text, &r.route, weights)?;
    let reread = istio::parse_documents(&edited, file).map_err(|errs| {
        let first = errs.first().map(|e| e.to_string()).unwrap_or_default();
        YamlError::Reread(first)
    })?;
    let got: Option<Vec<u32>> = Registry::new(&reread).http_route(r).ok().map(|found| {
        found
            .route
            .route
            .iter()
            .map(|d| d.weight.unwrap_or(0))
            .collect()
    });
    if got.as_deref() != Some(weights) {
        return Err(YamlError::Mismatch {
            got,
            want: weights.to_vec(),
            file: shown,
        });
    }
    Ok((file.clone(), edited))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Replace the numbers of the `weight:` lines in the block of http route `route`.
pub(crate) fn edit(text: &str, route: &str, weights: &[u32]) -> Result<String, YamlError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let is_name = |l: &str| {
        let t = l.trim_start().trim_start_matches("- ").trim();
        t == format!("name: {route}") || t == format!("name: \"{route}\"")
    };
    let starts: Vec<usize> = (0..lines.len()).filter(|i| is_name(lines[*i])).collect();
    let [start] = starts.as_slice() else {
        return Err(YamlError::RouteLines {
            route: route.to_string(),
            lines: starts.len(),
        });
    };
    // The route's block: until a line indented at most as much as its `- name:` item.
    let item_indent = indent(lines[*start]);
    let end = (start + 1..lines.len())
        .find(|i| {
            let l = lines[*i];
            !l.trim().is_empty()
                && !l.trim_start().starts_with('#')
                && (indent(l) <= item_indent || l.starts_with("---"))
        })
        .unwrap_or(lines.len());
    let weight_lines: Vec<usize> = (start + 1..end)
        .filter(|i| lines[*i].trim_start().starts_with("weight:"))
        .collect();
    if weight_lines.len() != weights.len() {
        return Err(YamlError::WeightLines {
            route: route.to_string(),
            lines: weight_lines.len(),
            destinations: weights.len(),
        });
    }
    let mut out = String::with_capacity(text.len());
    let mut next = weight_lines.iter().zip(weights).peekable();
    for (i, l) in lines.iter().enumerate() {
        match next.peek() {
            Some((at, w)) if **at == i => {
                let pad = &l[..indent(l)];
                let rest = l.trim_start().trim_start_matches("weight:").trim_start();
                // Keep a trailing comment and the line ending.
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                out.push_str(&format!("{pad}weight: {w}{}", &rest[digits..]));
                next.next();
            }
            _ => out.push_str(l),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VS: &str = "kyc-credit-check";

    fn route(name: &str) -> RouteRef {
        RouteRef::new(VS, name)
    }

    fn repo_copy() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
        for e in std::fs::read_dir(&src).expect("networking/").flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), dir.path().join(e.file_name())).expect("copy");
            }
        }
        dir
    }

    #[test]
    fn only_the_weights_of_that_route_change_and_comments_stay() {
        let dir = repo_copy();
        let file = dir.path().join("kyc-credit-check-istio-routing.yaml");
        let before = std::fs::read_to_string(&file).expect("read");
        let written = write(dir.path(), &route("credit-check-report"), &[0, 100]).expect("edit");
        assert_eq!(written, file);
        let after = std::fs::read_to_string(&file).expect("read");
        let changed: Vec<(&str, &str)> = before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(
            changed,
            [
                ("          weight: 50", "          weight: 0"),
                ("          weight: 50", "          weight: 100")
            ]
        );
        assert_eq!(before.lines().count(), after.lines().count());
        assert!(after.contains("# The canary."), "comments kept");
    }

    #[test]
    fn an_edit_that_cannot_be_exact_is_refused() {
        let dir = repo_copy();
        let e = write(dir.path(), &route("credit-check-report"), &[100]).expect_err("count");
        assert!(e.to_string().contains("weight:"), "{e}");
        let e = write(dir.path(), &route("nope"), &[50, 50]).expect_err("route");
        assert!(e.to_string().contains("nope"), "{e}");
        let e = write(dir.path(), &RouteRef::new("nope", "x"), &[50, 50]).expect_err("vs");
        assert!(e.to_string().contains("0 files"), "{e}");
        let e = write(dir.path(), &route("credit-check-report"), &[60, 30]).expect_err("sum");
        assert!(e.to_string().contains("add up to 90"), "{e}");
        assert_eq!(
            edit("- name: r\n  weight: 5 # keep\n", "r", &[7]).expect("edit"),
            "- name: r\n  weight: 7 # keep\n"
        );
    }
}
