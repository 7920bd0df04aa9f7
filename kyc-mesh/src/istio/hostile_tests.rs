//! Hostile YAML in networking/: each case is one clear error naming the file, read with
//! bounded memory and time (the size limit here, serde_norway's alias-repetition and
//! recursion limits), never a panic and never a silently skipped file.

use std::path::Path;

use super::load::{yaml_files, MAX_FILE_BYTES};
use super::{load, parse_documents};

/// A networking/ directory with one valid object and `name` holding what the test writes.
fn dir_with(name: &str, write: impl FnOnce(&Path)) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
    )
    .expect("write");
    let path = dir.path().join(name);
    write(&path);
    let shown = path.display().to_string();
    (dir, shown)
}

/// The one error `load` reports for `dir`; it must name `file`.
fn only_error(dir: &Path, file: &str) -> String {
    let errors = load(dir, None).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(text.contains(file), "names the file: {text}");
    text
}

#[test]
fn billion_laughs_is_refused() {
    let mut yaml = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        yaml.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let err = parse_documents(&yaml, Path::new("bomb.yaml")).expect_err("refused");
    let text = err[0].to_string();
    assert!(
        text.contains("bomb.yaml") && text.contains("invalid YAML"),
        "{text}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let yaml = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err = parse_documents(&yaml, Path::new("deep.yaml")).expect_err("refused");
    let text = err[0].to_string();
    assert!(
        text.contains("deep.yaml") && text.contains("recursion limit"),
        "{text}"
    );
}

#[test]
fn a_file_over_the_size_limit_is_not_read() {
    let (dir, file) = dir_with("huge.yaml", |p| {
        let line = "# padding padding padding padding padding padding padding\n";
        let n = (MAX_FILE_BYTES as usize / line.len()) + 2;
        std::fs::write(p, line.repeat(n)).expect("write");
    });
    let text = only_error(dir.path(), &file);
    assert!(text.contains("at most 1048576 bytes"), "{text}");
}

#[test]
fn binary_garbage_is_refused() {
    let (dir, file) = dir_with("garbage.yaml", |p| {
        let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 256) as u8).collect();
        std::fs::write(p, bytes).expect("write");
    });
    let text = only_error(dir.path(), &file);
    assert!(text.contains("not UTF-8"), "{text}");
    let (dir, file) = dir_with("controls.yaml", |p| {
        std::fs::write(p, "\u{1}\u{2}: [: {\u{7f}").expect("write");
    });
    let text = only_error(dir.path(), &file);
    assert!(text.contains("invalid YAML"), "{text}");
}

#[test]
fn a_directory_or_a_dangling_symlink_named_yaml_is_an_error() {
    let (dir, file) = dir_with("routes.yaml", |p| std::fs::create_dir(p).expect("mkdir"));
    let text = only_error(dir.path(), &file);
    assert!(text.contains("is a directory"), "{text}");
    let (dir, file) = dir_with("link.yaml", |p| {
        std::os::unix::fs::symlink(p.with_file_name("gone.yaml"), p).expect("symlink")
    });
    let text = only_error(dir.path(), &file);
    assert!(
        text.contains("symlink to a file that does not exist"),
        "{text}"
    );
}

#[test]
fn an_edit_saved_half_way_is_refused_naming_the_file() {
    let networking = Path::new(env!("CARGO_MANIFEST_DIR")).join("../networking");
    let name = "kyc-credit-check-istio-routing.yaml";
    let text = std::fs::read_to_string(networking.join(name)).expect("read");
    let dir = tempfile::tempdir().expect("tmp");
    for f in yaml_files(&networking).expect("list") {
        std::fs::copy(&f, dir.path().join(f.file_name().expect("name"))).expect("copy");
    }
    // Cut mid-value, mid-key, and before anything was written (an editor that truncates
    // first). A cut that leaves complete, valid YAML and a valid configuration (e.g. right
    // after a whole route) is indistinguishable from an intended edit and is applied.
    let after = |needle: &str| text.find(needle).map(|i| i + needle.len()).expect(needle);
    for cut in [after("subset: v"), after("weig"), 0] {
        std::fs::write(dir.path().join(name), &text[..cut]).expect("write");
        let ports = crate::topology::Ports::default();
        let errors = crate::snapshot::Sources::new(dir.path())
            .snapshot(None, ports)
            .and_then(|s| s.translate(&Default::default()))
            .expect_err("refused")
            .lines();
        assert!(
            errors.iter().any(|e| e.contains(name)),
            "cut at {cut}: {errors:?}"
        );
    }
}
