#!/usr/bin/env bash
# CPU profile of every process of the local mesh under chain load (perf, cpu-clock sampling):
# the "Profile" of BENCHMARKS.md. Builds the `perf` binaries (what scripts/bench.sh measures) with symbols into target/profiling.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

usage() {
    cat <<USAGE
Usage: bench/profile.sh [SECONDS] [OUT_DIR]

1. cargo build --profile perf with symbols (CARGO_PROFILE_PERF_STRIP=false,
   CARGO_PROFILE_PERF_DEBUG=line-tables-only) into target/profiling (skip: PROFILE_NO_BUILD=1)
2. kyc-mesh up with those binaries on free ports, chain load with wrk (16 connections)
3. perf record -F 999 on the aggregator, the basic scorer and Envoy for SECONDS (default 10)
4. prints, per process, the split kernel / own code / libc and the top symbols
perf.data files stay in OUT_DIR (default: a temporary directory, removed at the end).
Needs perf (apt-get install linux-perf) and kernel.perf_event_paranoid <= 2 for your own processes.
USAGE
}
[[ "${1:-}" == -h || "${1:-}" == --help ]] && {
    usage
    exit 0
}
SECS="${1:-10}"
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a whole number > 0"
command -v perf >/dev/null 2>&1 || die "perf is required: apt-get install linux-perf (Debian) or linux-tools-generic (Ubuntu)"
ensure_tools

PROF_DIR="$BENCH_ROOT/target/profiling/perf"
if [[ "${PROFILE_NO_BUILD:-0}" != 1 ]]; then
    info "cargo build --profile perf with symbols into target/profiling"
    (cd "$BENCH_ROOT" && CARGO_PROFILE_PERF_STRIP=false CARGO_PROFILE_PERF_DEBUG=line-tables-only \
        cargo build --profile perf --workspace --bins --target-dir target/profiling)
fi
BIN_DIR="$PROF_DIR"
MESH_BIN="$BIN_DIR/kyc-mesh"
[[ -x "$MESH_BIN" ]] || MESH_BIN="$BENCH_ROOT/target/perf/kyc-mesh"
[[ -x "$MESH_BIN" ]] || die "no kyc-mesh binary (build it)"
ENVOY_BIN="${KYC_ENVOY_BIN:-$(find_envoy)}"

if [[ -n "${2:-}" ]]; then
    OUT="$2"
    mkdir -p "$OUT"
    keep=1
else
    OUT="$(mktemp -d "${TMPDIR:-/tmp}/kyc-profile.XXXXXX")"
    keep=0
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kyc-profile-mesh.XXXXXX")"
cleanup() {
    mesh_down
    rm -rf "$WORK"
    ((keep)) || rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# kyc-mesh takes the service binaries from its own directory unless --bin-dir
mesh_up "$WORK" --bin-dir "$BIN_DIR"
declare -A PID
for p in kyc-aggregator-mgt kyc-credit-check-basic envoy; do
    PID[$p]="$(child_pid "$p")" || die "no $p under kyc-mesh"
done
info "chain load for $((SECS + 3)) s; perf on aggregator, basic scorer, Envoy for $SECS s"
run_wrk chain "http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report" "$((SECS + 3))" 16 2 >"$OUT/wrk.json" &
load=$!
sleep 1 # let the load reach steady state before sampling (experiment timing)
recs=()
for p in "${!PID[@]}"; do
    perf record -q -F 999 -o "$OUT/$p.data" -p "${PID[$p]}" -- sleep "$SECS" >/dev/null 2>&1 &
    recs+=($!)
done
for r in "${recs[@]}"; do wait "$r" || true; done
wait "$load" || true
mesh_down

jq -r '"chain under profiling: \(.rps) req/s, p99 \(.latency_ms.p99) ms, errors \(.errors.total)"' "$OUT/wrk.json"
for p in kyc-aggregator-mgt kyc-credit-check-basic envoy; do
    echo
    echo "== $p: share of samples by binary"
    perf report -i "$OUT/$p.data" --stdio --no-children --sort dso 2>/dev/null | grep -v '^#' | grep . | head -n 5
    echo "== $p: top symbols"
    perf report -i "$OUT/$p.data" --stdio --no-children --sort sym --percent-limit 0.8 2>/dev/null |
        grep -v '^#' | grep . | cut -c1-150 | head -n 25
done
((keep)) && echo "perf data: $OUT"
