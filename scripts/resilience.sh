#!/usr/bin/env bash
# Resilience figures on the local mesh (real Envoy, loopback only, every run bounded in time):
# retries masking a flaky scorer, a killed scorer, a SIGTERM'd scorer under load, a live reweight
# under load. See BENCHMARKS.md.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bench/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/resilience.sh [OPTIONS]

Each experiment starts its own \`kyc-mesh up\` (target/release, real Envoy) on free loopback
ports and drives it with wrk ${WRK_VERSION} (installed with apt-get if missing) and bench/probe.py:

  retries   advanced scorer with KYC_CHAOS_ERROR_RATE=0.2; share of failed end-to-end requests
            (POST aggregator /kyc/v1/customer?type=report) with the route's retry policy
            (networking/) and without it (\`kyc-mesh use no-retries\`)
  kill      chain under load; SIGKILL the advanced scorer; time until the aggregator answers
            the error JSON (POST ?type=advancedReport, one request after another); with the
            route's retries and again with \`kyc-mesh use no-retries\`
  sigterm   16 clients on ?type=advancedReport, the advanced scorer answering after
            KYC_CHAOS_DELAY_MS=20 (so requests are in flight); SIGTERM it; in-flight requests
            that did not get 200 = lost (target: none)
  reweight  chain under load while the canary weights are edited 50/50 -> 90/10 -> 0/100 ->
            100/0 -> 50/50 in a COPY of networking/ (the repository's YAML is never touched);
            failed requests (target: none), per-scorer counts, edit -> applied time
  restart   SIGKILL the advanced scorer; time until \`up\` has restarted it and the chain
            answers ?type=advancedReport with 200 again (supervision, 1 s back-off)
  rollout   chain under load through the gateway while \`kyc-mesh rollout restart\` replaces
            basic, advanced and the aggregator one after another; failed requests (target:
            none), time per rollout
  hostile   at the gateway (header timeout 2 s): chain load through it while 500 slow-header
            connections (slowloris, bench/slowloris.py), then while 5,000 idle connections (a
            flood) are held; the normal client's failed requests (target: none) and p99, how
            many slow connections Envoy closed, Envoy's RSS

Options:
  --only NAME[,NAME]   run only these experiments (retries,kill,sigterm,reweight,restart,rollout,hostile)
  --duration S         seconds of load per measured run (default 10)
  --connections N      wrk connections (default 16)
  --kill-runs N        repetitions of each kill measurement, one fresh mesh each (default 3)
  --out FILE           JSON results (default target/bench/resilience.json)
  --check              exit 1 when a zero-loss target is missed: an in-flight request lost at
                       SIGTERM, a failed request during the live reweight, a rollout restart or
                       the hostile clients (or a slow-header connection left open),
                       or (retries) more than 1 % failed requests with the retry policy on, the
                       killed scorer not answered with the error JSON, or not restarted within
                       30 s (counts only, never timings: CI-safe)
  --no-sidecars        run each mesh edge only (\`kyc-mesh up --no-sidecars\`); by default every
                       workload has its sidecar, as \`scripts/run-local.sh\` runs it
  --no-build           do not run cargo build --release (the binaries must exist)
  -h, --help           this help

Environment: KYC_BIN_DIR (default target/release), KYC_ENVOY_BIN (Envoy to use).
USAGE
}

ONLY="retries,kill,sigterm,reweight,restart,rollout,hostile"
DURATION=10
KILL_RUNS=3
CHECK=0
CONNS=16
OUT="$BENCH_ROOT/target/bench/resilience.json"
BUILD=1
# With sidecars, as scripts/run-local.sh runs the mesh (bench/lib.sh's mesh_up reads it).
export MESH_SIDECARS=1
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"; }
while (($#)); do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --only) need_value "$@"; ONLY="$2"; shift ;;
    --duration) need_value "$@"; DURATION="$2"; shift ;;
    --connections) need_value "$@"; CONNS="$2"; shift ;;
    --kill-runs) need_value "$@"; KILL_RUNS="$2"; shift ;;
    --out) need_value "$@"; OUT="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --no-sidecars) MESH_SIDECARS=0 ;;
    --check) CHECK=1 ;;
    *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number > 0"
[[ "$CONNS" =~ ^[1-9][0-9]*$ ]] || die "--connections must be a whole number > 0"
[[ "$KILL_RUNS" =~ ^[1-9][0-9]*$ ]] || die "--kill-runs must be a whole number > 0"
IFS=',' read -ra EXPERIMENTS <<<"$ONLY"
for e in "${EXPERIMENTS[@]}"; do
    [[ "$e" =~ ^(retries|kill|sigterm|reweight|restart|rollout|hostile)$ ]] || die "unknown experiment '$e' (retries, kill, sigterm, reweight, restart, rollout, hostile)"
done
wanted() { [[ ",$ONLY," == *",$1,"* ]]; }

ensure_tools
ensure_binaries "$BUILD"
ENVOY_BIN="${KYC_ENVOY_BIN:-$(find_envoy)}"
[[ -x "$ENVOY_BIN" ]] || die "Envoy not found at $ENVOY_BIN"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kyc-resilience.XXXXXX")"
BG_PID=""
cleanup() {
    if [[ -n "$BG_PID" ]]; then
        kill "$BG_PID" 2>/dev/null || true
        wait "$BG_PID" 2>/dev/null || true
    fi
    mesh_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS="$(jq -n --argjson m "$(machine_json)" --argjson d "$DURATION" --argjson c "$CONNS" \
    '{machine: $m, settings: {duration_s: $d, connections: $c}}')"
add_result() { RESULTS="$(jq --arg k "$1" --argjson v "$2" '. + {($k): $v}' <<<"$RESULTS")"; }

CHAIN_PATH="/kyc/v1/customer?type=report"
ADV_PATH="/kyc/v1/customer?type=advancedReport"

kyc_mesh() {
    local args
    mapfile -t args < <(mesh_args)
    "$MESH_BIN" "${args[@]}" "$@"
}

# start_bg_wrk LABEL URL SECONDS : wrk with per-status/per-scorer counts in the background.
start_bg_wrk() {
    (run_wrk "$1" "$2" "$3" "$CONNS" 2 1 1 >"$WORK/bg.json" 2>"$WORK/bg.err") &
    BG_PID=$!
}
# wait_bg_wrk : wait for it (in this shell, not in a command substitution); result in $WORK/bg.json.
wait_bg_wrk() {
    wait "$BG_PID" || die "background load failed: $(cat "$WORK/bg.err")"
    BG_PID=""
}

# --- retries on/off with a flaky advanced scorer ------------------------------------------------------
if wanted retries; then
    info "retries: advanced scorer fails 20% of requests (KYC_CHAOS_ERROR_RATE=0.2)"
    mesh_up "$WORK" --service-env kyc-credit-check-advanced:KYC_CHAOS_ERROR_RATE=0.2
    run_wrk warmup "http://127.0.0.1:$P_AGG$CHAIN_PATH" 2 "$CONNS" 2 >/dev/null
    on="$(run_wrk retries-on "http://127.0.0.1:$P_AGG$CHAIN_PATH" "$DURATION" "$CONNS" 2 1 1)"
    info "  kyc-mesh use no-retries"
    kyc_mesh use no-retries >&2
    off="$(run_wrk retries-off "http://127.0.0.1:$P_AGG$CHAIN_PATH" "$DURATION" "$CONNS" 2 1 1)"
    mesh_down
    v="$(jq -n --argjson on "$on" --argjson off "$off" '
        def share: if .requests > 0 then (.errors.total / .requests * 10000 | round) / 100 else null end;
        {chaos_error_rate_on_advanced: 0.2, path: "POST aggregator /kyc/v1/customer?type=report (50/50 canary)",
         retries_on: ($on + {failed_percent: ($on | share)}),
         retries_off: ($off + {failed_percent: ($off | share)})}')"
    add_result retries "$v"
    jq -r '"  failed end-to-end: \(.retries_on.failed_percent)% with retries (of \(.retries_on.requests)), \(.retries_off.failed_percent)% without (of \(.retries_off.requests))"' <<<"$v" >&2
fi

# --- a scorer killed under load ---------------------------------------------------------------------
if wanted kill; then
    # With the route's retries (networking/) and without (no-retries), KILL_RUNS times each (one
    # fresh mesh per run): Envoy's retry back-off (25 ms base, exponential, jittered) is most of the
    # time to the error answer, and it varies from run to run.
    for variant in retries no-retries; do
        runs="[]"
        for ((i = 1; i <= KILL_RUNS; i++)); do
            info "kill ($variant, run $i/$KILL_RUNS): SIGKILL the advanced scorer under chain load"
            mesh_up "$WORK"
            if [[ "$variant" == no-retries ]]; then kyc_mesh use no-retries >/dev/null; fi
            adv_pid="$(child_pid kyc-credit-check-advanced)"
            start_bg_wrk kill-load "http://127.0.0.1:$P_AGG$CHAIN_PATH" 5
            sleep 1 # let the background load run before the kill (experiment timing)
            probe="$(python3 "$BENCH_DIR/probe.py" kill "http://127.0.0.1:$P_AGG$ADV_PATH" "$adv_pid" --signal KILL --max-s 5)"
            wait_bg_wrk
            alive="$(kill -0 "$MESH_PID" 2>/dev/null && echo true || echo false)"
            mesh_said="$(grep -m1 'service kyc-credit-check-advanced exited' "$MESH_LOG" || true)"
            mesh_down
            runs="$(jq --argjson p "$probe" --slurpfile bg "$WORK/bg.json" --argjson alive "$alive" --arg said "$mesh_said" \
                '. + [{probe: $p, background_chain_load: $bg[0], mesh_still_running: $alive, mesh_message: $said}]' <<<"$runs")"
            jq -r '.[-1] | "  first error JSON \(.probe.first_error_json_ms) ms after SIGKILL: \(.probe.status) \(.probe.errorCode)"' <<<"$runs" >&2
        done
        v="$(jq '{runs: ., first_error_json_ms: map(.probe.first_error_json_ms),
                  median_ms: (map(.probe.first_error_json_ms) | sort | .[length / 2 | floor]),
                  mesh_still_running: (map(.mesh_still_running) | all)}' <<<"$runs")"
        if [[ "$variant" == retries ]]; then add_result kill "$v"; else add_result kill_no_retries "$v"; fi
    done
fi

# --- SIGTERM of a scorer under load -----------------------------------------------------------------
if wanted sigterm; then
    info "sigterm: SIGTERM the advanced scorer with requests in flight"
    mesh_up "$WORK" --service-env kyc-credit-check-advanced:KYC_CHAOS_DELAY_MS=20
    adv_pid="$(child_pid kyc-credit-check-advanced)"
    probe="$(python3 "$BENCH_DIR/probe.py" inflight "http://127.0.0.1:$P_AGG$ADV_PATH" "$adv_pid" --signal TERM --concurrency "$CONNS" --after-s 2)"
    mesh_down
    v="$(jq -n --argjson p "$probe" '$p + {scorer_delay_ms: 20}')"
    add_result sigterm "$v"
    jq -r '"  in flight at SIGTERM: \(.in_flight_at_signal.requests), lost: \(.lost_in_flight), last answered \(.last_in_flight_answered_ms_after_signal) ms after the signal"' <<<"$v" >&2
fi

# --- live reweight under load -----------------------------------------------------------------------
# set_weights FILE BASIC ADVANCED : rewrite the two weights of the report route, saved by atomic rename.
set_weights() {
    python3 - "$1" "$2" "$3" <<'PY'
import os, re, sys
path, basic, advanced = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
values = iter([basic, advanced])
new, n = re.subn(r"(weight:\s*)\d+", lambda m: m.group(1) + next(values), text, count=2)
if n != 2:
    sys.exit(f"{path}: expected 2 weights, found {n}")
tmp = path + ".tmp"
with open(tmp, "w") as f:
    f.write(new)
os.rename(tmp, path)
PY
}

# rds_updates : RDS updates Envoy applied, summed over its listeners. The stat prefix
# (http.<listener stat_prefix>.rds.<route config>.) is kyc-mesh's to name; match its shape.
rds_updates() {
    curl -s "http://127.0.0.1:$P_ADMIN/stats?filter=$(jq -rn '"^http\\..*\\.rds\\..*\\.update_success$" | @uri')" |
        awk -F': ' '{s += $2} END {print s + 0}'
}

if wanted reweight; then
    info "reweight: edit the canary weights under load (in a copy of networking/)"
    cp -r "$BENCH_ROOT/networking" "$WORK/networking"
    MESH_NETWORKING="$WORK/networking"
    routing="$WORK/networking/kyc-credit-check-istio-routing.yaml"
    [[ "$(grep -c 'weight:' "$routing")" == 2 ]] || die "expected two weights in $routing"
    mesh_up "$WORK"
    steps=("90 10" "0 100" "100 0" "50 50")
    total=$((DURATION * 2 + 4))
    start_bg_wrk reweight-load "http://127.0.0.1:$P_AGG$CHAIN_PATH" "$total"
    sleep 2 # load before the first edit (experiment timing)
    edits="[]"
    rds="$(rds_updates)"
    for s in "${steps[@]}"; do
        read -r wb wa <<<"$s"
        t0="$(date +%s%N)"
        set_weights "$routing" "$wb" "$wa"
        deadline=$((SECONDS + 15))
        until (($(rds_updates) > rds)); do
            ((SECONDS < deadline)) || die "weights $wb/$wa not applied within 15 s (log: $MESH_LOG)"
            sleep 0.05
        done
        applied_ms=$((($(date +%s%N) - t0) / 1000000))
        rds="$(rds_updates)"
        split="$(kyc_mesh split 200 --via aggregator 2>&1 || true)"
        b="$(awk '$1 == "kyc-credit-check-basic" {print $(NF-1)}' <<<"$split")"
        a="$(awk '$1 == "kyc-credit-check-advanced" {print $(NF-1)}' <<<"$split")"
        edits="$(jq --argjson wb "$wb" --argjson wa "$wa" --argjson ms "$applied_ms" \
            --argjson b "${b:-0}" --argjson a "${a:-0}" \
            '. + [{weights: {basic: $wb, advanced: $wa}, edit_to_applied_ms: $ms, split_200_after: {basic: $b, advanced: $a}}]' <<<"$edits")"
        info "  $wb/$wa applied ${applied_ms} ms after the save; split of 200: basic ${b:-0}, advanced ${a:-0}"
        sleep $(((DURATION * 2) / ${#steps[@]})) # keep each weight under load for a while
    done
    wait_bg_wrk
    bg="$(cat "$WORK/bg.json")"
    mesh_down
    MESH_NETWORKING="$BENCH_ROOT/networking"
    if git -C "$BENCH_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$BENCH_ROOT" diff --quiet -- networking || die "networking/ in the repository changed (it must not)"
    fi
    v="$(jq -n --argjson e "$edits" --argjson bg "$bg" '{edits: $e, load: $bg, failed_requests: $bg.errors.total}')"
    add_result reweight "$v"
    jq -r '"  failed requests during \(.edits | length) live edits: \(.failed_requests) of \(.load.requests)"' <<<"$v" >&2
fi

# ms_since T0_NS : milliseconds since a `date +%s%N` reading.
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# --- a killed scorer restarted by up --------------------------------------------------------------------
if wanted restart; then
    info "restart: SIGKILL the advanced scorer; up restarts it"
    mesh_up "$WORK"
    adv_pid="$(child_pid kyc-credit-check-advanced)"
    t0="$(date +%s%N)"
    kill -KILL "$adv_pid"
    served=false
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
            --data-binary "@$BENCH_BODY" "http://127.0.0.1:$P_AGG$ADV_PATH" || true)"
        if [[ "$code" == 200 && "$(child_pid kyc-credit-check-advanced || true)" != "$adv_pid" ]]; then
            served=true
            break
        fi
        sleep 0.05 # polling interval of the measurement
    done
    ms="$(ms_since "$t0")"
    said="$(grep -m1 'service kyc-credit-check-advanced restarted' "$MESH_LOG" || true)"
    mesh_down
    v="$(jq -n --argjson ok "$served" --argjson ms "$ms" --arg said "$said" \
        '{served_again: $ok, kill_to_served_again_ms: $ms, mesh_message: $said}')"
    add_result restart "$v"
    jq -r '"  served again: \(.served_again), \(.kill_to_served_again_ms) ms after SIGKILL"' <<<"$v" >&2
fi

# --- rollout restart of every service under load ---------------------------------------------------
if wanted rollout; then
    info "rollout: kyc-mesh rollout restart each service under chain load through the gateway"
    mesh_up "$WORK"
    start_bg_wrk rollout-load "http://127.0.0.1:$P_GW$CHAIN_PATH" $((DURATION + 12))
    sleep 1 # load before the first rollout (experiment timing)
    rollouts="[]"
    for svc in kyc-credit-check-basic kyc-credit-check-advanced kyc-aggregator-mgt; do
        t0="$(date +%s%N)"
        kyc_mesh rollout restart "$svc" >&2 || die "rollout restart $svc failed (log: $MESH_LOG)"
        ms="$(ms_since "$t0")"
        rollouts="$(jq --arg s "$svc" --argjson ms "$ms" '. + [{service: $s, rollout_ms: $ms}]' <<<"$rollouts")"
        info "  $svc: ${ms} ms"
    done
    wait_bg_wrk
    bg="$(cat "$WORK/bg.json")"
    mesh_down
    v="$(jq -n --argjson r "$rollouts" --argjson bg "$bg" '{rollouts: $r, load: $bg, failed_requests: $bg.errors.total}')"
    add_result rollout "$v"
    jq -r '"  failed requests during \(.rollouts | length) rollout restarts: \(.failed_requests) of \(.load.requests)"' <<<"$v" >&2
fi

# --- hostile clients at the gateway ------------------------------------------------------------------
# hostile_run MODE N : MODE (slow|idle) connections held against the gateway while the normal
# client (wrk, chain through the gateway) runs; prints one JSON object.
hostile_run() {
    local envoy_pid load attackers rss_before rss_during
    envoy_pid="$(child_pid envoy)"
    rss_before="$(rss_kb "$envoy_pid")"
    python3 "$BENCH_DIR/slowloris.py" "$1" "$P_GW" --connections "$2" --seconds $((DURATION + 4)) >"$WORK/attack.json" &
    attackers=$!
    sleep 2 # the attackers connect before the normal client starts (experiment timing)
    load="$(run_wrk "hostile-$1" "http://127.0.0.1:$P_GW$CHAIN_PATH" "$DURATION" "$CONNS" 2)"
    rss_during="$(rss_kb "$envoy_pid")"
    wait "$attackers" || die "bench/slowloris.py $1 failed"
    jq -n --argjson load "$load" --slurpfile a "$WORK/attack.json" --argjson before "$rss_before" --argjson during "$rss_during" \
        '{attack: $a[0], normal_client: $load, envoy_rss_kb: {before: $before, during: $during}}'
}

if wanted hostile; then
    info "hostile: 500 slow-header connections, then 5,000 idle ones, at the gateway under chain load"
    mesh_up "$WORK" --gateway-header-timeout-ms 2000
    slow="$(hostile_run slow 500)"
    flood="$(hostile_run idle 5000)"
    mesh_down
    v="$(jq -n --argjson s "$slow" --argjson f "$flood" '{slowloris: $s, flood: $f,
        failed_requests: ($s.normal_client.errors.total + $f.normal_client.errors.total)}')"
    add_result hostile "$v"
    jq -r '"  slowloris: \(.slowloris.attack.closed_by_server) of \(.slowloris.attack.opened) slow connections closed by Envoy; normal client p99 \(.slowloris.normal_client.latency_ms.p99) ms, \(.slowloris.normal_client.errors.total) failed of \(.slowloris.normal_client.requests)",
            "  flood: \(.flood.attack.opened) idle connections held; normal client p99 \(.flood.normal_client.latency_ms.p99) ms, \(.flood.normal_client.errors.total) failed of \(.flood.normal_client.requests); Envoy RSS \(.flood.envoy_rss_kb.before) -> \(.flood.envoy_rss_kb.during) kB"' <<<"$v" >&2
fi

mkdir -p "$(dirname "$OUT")"
printf '%s\n' "$RESULTS" >"$OUT"
echo "results: $OUT"

if ((CHECK)); then
    failures="$(jq -r '
        [ (if .sigterm and .sigterm.lost_in_flight > 0 then "SIGTERM: \(.sigterm.lost_in_flight) in-flight requests lost" else empty end),
          (if .reweight and .reweight.failed_requests > 0 then "reweight: \(.reweight.failed_requests) failed requests" else empty end),
          (if .rollout and .rollout.failed_requests > 0 then "rollout: \(.rollout.failed_requests) failed requests" else empty end),
          (if .hostile and .hostile.failed_requests > 0 then "hostile clients: \(.hostile.failed_requests) failed requests of the normal client" else empty end),
          (if .hostile and .hostile.slowloris.attack.held_to_the_end > 0 then "hostile clients: \(.hostile.slowloris.attack.held_to_the_end) slow-header connections still open after the header timeout" else empty end),
          (if .restart and (.restart.served_again | not) then "restart: the killed scorer was not served again within 30 s" else empty end),
          (if .retries and .retries.retries_on.failed_percent > 1 then "retries: \(.retries.retries_on.failed_percent) % failed with retries on" else empty end),
          (if .kill and (.kill.runs | map(.probe.errorCode == null) | any) then "kill: no error JSON from the aggregator" else empty end)
        ] | .[]' "$OUT")"
    if [[ -n "$failures" ]]; then
        printf 'FAILED: %s\n' "$failures" >&2
        exit 1
    fi
    echo "all zero-loss checks passed"
fi
