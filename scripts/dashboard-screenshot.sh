#!/usr/bin/env bash
# Regenerate docs/dashboard.png: the live dashboard of a local mesh under load, mid-canary,
# as headless Chromium renders it; or (--canary-report) docs/canary-report.png: the HTML report
# of a canary rolled back by chaos. Everything runs on free loopback ports.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/dashboard-screenshot.sh [--canary-report] [--debug] [--no-build] [--out FILE] [-h|--help]

Starts \`kyc-mesh up\` (real services, real Envoy from scripts/run-local.sh --print-envoy) on free
loopback ports with its dashboard, drives it through the dashboard's own API (the page's token):
the built-in load generator at 40 req/s and a canary paused at 50 %, waits until the figures cover
a full 10 s window and two checks passed, then takes a 1280x900 screenshot with
\`chromium --headless --screenshot\` and stops the mesh.

With --canary-report: chaos on the canary (60 % errors), \`kyc-mesh canary --load 40 --interval 2s
--step-weight 20 --report-html FILE\` (rolled back), and a 1100x1700 screenshot of that file.

Options:
  --canary-report  the canary report instead of the dashboard (default out: docs/canary-report.png)
  --debug          use target/debug instead of target/release
  --no-build       do not run cargo build first
  --out FILE       where to write the PNG (default: docs/dashboard.png)
Environment: CHROMIUM (default: chromium), KYC_ENVOY_BIN (else found by run-local.sh).
The mesh is started and stopped by scripts/lib.sh (mesh_up, mesh_down), as the benchmarks start theirs.
USAGE
}

profile=release
build=1
out=""
report=0
while (($#)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --canary-report) report=1 ;;
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    --out)
        [[ $# -ge 2 ]] || die "--out needs a file"
        out="$2"
        shift
        ;;
    *)
        usage >&2
        die "unknown option: $1"
        ;;
    esac
    shift
done
if [[ -z "$out" ]]; then
    out="$KYC_ROOT/docs/dashboard.png"
    ((report)) && out="$KYC_ROOT/docs/canary-report.png"
fi

chromium="${CHROMIUM:-chromium}"
command -v "$chromium" >/dev/null 2>&1 || die "$chromium not found (install Debian's chromium or set CHROMIUM)"
command -v curl >/dev/null 2>&1 || die "curl is required"
ENVOY_BIN="$(find_envoy)"
if ((build)); then
    flag=()
    [[ "$profile" == release ]] && flag=(--release)
    info "cargo build ${flag[*]} --workspace --bins"
    (cd "$KYC_ROOT" && cargo build ${flag[@]+"${flag[@]}"} --workspace --bins)
fi
MESH_BIN="$KYC_ROOT/target/$profile/kyc-mesh"
[[ -x "$MESH_BIN" ]] || die "$MESH_BIN not found; run without --no-build"

tmp="$(mktemp -d)"
cleanup() {
    mesh_down
    rm -rf "$tmp"
}
trap cleanup EXIT

# The mesh as scripts/run-local.sh runs it (sidecars), on free loopback ports, with its dashboard.
dash="$(free_ports 1)"
MESH_SIDECARS=1
MESH_TRACES=1
info "starting kyc-mesh up (dashboard on 127.0.0.1:$dash)"
mesh_up "$tmp" --dashboard-port "$dash"

base="http://127.0.0.1:$dash"
token="$(curl -fsS "$base/" | sed -n 's/.*name="kyc-token" content="\([0-9a-f]*\)".*/\1/p')"
[[ -n "$token" ]] || die "no token in the dashboard page"
api() {
    curl -fsS -X "$1" -H "X-KYC-Token: $token" -H 'Content-Type: application/json' \
        --data "$3" "$base$2" >/dev/null || die "$1 $2 failed"
}

# shot URL WIDTH HEIGHT: Chromium's screenshot of URL into $out.
shot() {
    mkdir -p "$(dirname "$out")"
    info "screenshot → $out"
    "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --disable-background-networking --hide-scrollbars --user-data-dir="$tmp/chromium" \
        --virtual-time-budget=500 --window-size="$2,$3" --screenshot="$out" "$1" 2>"$tmp/chromium.log" ||
        die "chromium failed: $(tail -n 5 "$tmp/chromium.log")"
    [[ -s "$out" ]] || die "no screenshot written"
    info "done: $out"
}

if ((report)); then
    info "chaos on the canary (60 % errors), then a canary that rolls back"
    api PUT /api/chaos/kyc-credit-check-advanced '{"errorRate":0.6,"delayMs":0}'
    rc=0
    mapfile -t margs < <(mesh_args)
    "$MESH_BIN" "${margs[@]}" \
        canary --load 40 --interval 2s --step-weight 20 --report-html "$tmp/report.html" >"$tmp/canary.log" 2>&1 || rc=$?
    ((rc == 1)) || die "the canary did not roll back (exit $rc): $(tail -n 20 "$tmp/canary.log")"
    shot "file://$tmp/report.html" 1100 1700
    exit 0
fi
info "load 40 req/s, then a canary paused at 50 % (through the dashboard's API)"
api PUT /api/load '{"rps":40}'
api POST /api/canary '{"stepWeight":25,"intervalMs":4000,"minRequests":10,"pauseAt":50}'

# The view must cover a full window and show two checks (polled, with a deadline).
ready=""
for _ in $(seq 1 90); do
    state="$(curl -fsS "$base/api/state")"
    if grep -q '"phase":"paused"' <<<"$state" && grep -q '"windowSeconds":\(9\.[5-9]\|1[0-9]\)' <<<"$state"; then
        ready=1
        break
    fi
    sleep 1
done
[[ -n "$ready" ]] || die "the canary did not reach its pause with a full window within 90 s"

shot "$base/" 1280 900
