//! Writing a file so that no reader ever sees half of it: the text goes to a temporary file
//! beside it (`.<name>.tmp`, same directory, so the same file system), then a rename replaces
//! the file in one step. Every file kyc-mesh writes goes through here: Envoy's xDS and SDS
//! files, certificates and keys, the state directory's `scenario`, `applied-scenario` and
//! `weights.json`, `run/mesh.json`, Prometheus' configuration and targets, a `--write`
//! edit of networking/, a canary `--report`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file `path` is written to before the rename.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Replace `path` with `bytes` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    write_with_mode(path, bytes.as_ref(), 0o666)
}

/// Like [`write_atomic`], readable by the owner only (a private key): the temporary file is
/// created with mode 0600, so the key is never readable by others, not even for a moment.
pub(crate) fn write_private(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    write_with_mode(path, bytes.as_ref(), 0o600)
}

/// Replace `path` with `value` as pretty JSON, atomically.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    write_atomic(path, text)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = temp_path(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_is_replaced_whole_and_a_private_one_is_never_readable_by_others() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("weights.json");
        write_atomic(&file, "one").expect("write");
        write_json(&file, &serde_json::json!({"a": 1})).expect("write");
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            "{\n  \"a\": 1\n}"
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["weights.json"], "no temporary file is left");
        let key = dir.path().join("key.pem");
        write_private(&key, "secret").expect("write");
        let mode = std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(temp_path(&key), dir.path().join(".key.pem.tmp"));
        // A directory that does not exist: the error, nothing written.
        assert!(write_atomic(&dir.path().join("no/such"), "x").is_err());
    }
}
