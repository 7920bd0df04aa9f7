# shellcheck shell=bash
# The cost of the live dashboard, A/B in one run (sourced by scripts/bench.sh after bench/lib.sh):
# the chain (aggregator -> Envoy -> scorer) under the same wrk load with
#   closed  `kyc-mesh up --no-dashboard`                              (the baseline)
#   open    `kyc-mesh up --dashboard-port P` and one page's event stream (curl -N /api/events)
#           connected the whole time, so the collector reads Envoy's stats, the services' /readyz
#           and up's state every second
# each variant a fresh `kyc-mesh up`, the variants interleaved over DASH_ROUNDS rounds, reporting the
# CPU per request of every process of the mesh (kyc-mesh itself, Envoy, the three services), best of
# the rounds, and the CPU the mesh uses per second with no load (what the dashboard's collector
# costs, resolved far below the load figures' noise); the overhead per request derived from it is
# (open idle - closed idle) CPU per second / closed req/s / closed CPU per request.
# Writes DASH_OUT (JSON) and prints a table.

DASH_PROCS=(envoy kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced)

# dash_cpu : CPU ticks used so far by kyc-mesh and every process it runs.
dash_cpu() {
    local total p
    # shellcheck disable=SC2153 # MESH_PID is set by mesh_up (bench/lib.sh)
    total="$(cpu_ticks "$MESH_PID")"
    for p in "${DASH_PROCS[@]}"; do total=$((total + $(cpu_ticks "${DASH_PID[$p]}"))); done
    echo "$total"
}

# dash_ab WORKDIR DURATION WARMUP CONNS THREADS ROUNDS
dash_ab() {
    local work="$1" dur="$2" warm="$3" conns="$4" threads="$5" rounds="$6"
    local results="[]" round variant r p before d port sse events
    for ((round = 1; round <= rounds; round++)); do
        for variant in closed open; do
            sse=""
            if [[ "$variant" == open ]]; then
                # Port 0: any free one (a port chosen here could be handed to a service too).
                mesh_up "$work" --dashboard-port 0
                port="$(mesh_dashboard_port)"
                curl -sN "http://127.0.0.1:$port/api/events" >"$work/events.txt" 2>/dev/null &
                sse=$!
            else
                mesh_up "$work" --no-dashboard
            fi
            declare -A DASH_PID=()
            for p in "${DASH_PROCS[@]}"; do DASH_PID[$p]="$(child_pid "$p")"; done
            local url="http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report"
            ((warm > 0)) && run_wrk "dash-$variant-warmup" "$url" "$warm" "$conns" "$threads" >/dev/null
            # No load: what the mesh (and the dashboard's collector, when open) costs by itself.
            local idle_before idle_ms
            idle_before="$(dash_cpu)"
            sleep "$dur"
            idle_ms="$(jq -n --argjson d "$(($(dash_cpu) - idle_before))" --argjson t "$CLK_TCK" --argjson s "$dur" \
                '$d / $t * 1000 / $s | . * 100 | round / 100')"
            before="$(dash_cpu)"
            r="$(run_wrk "dash-$variant" "$url" "$dur" "$conns" "$threads")"
            d=$(($(dash_cpu) - before))
            events=0
            if [[ -n "$sse" ]]; then
                kill "$sse" 2>/dev/null || true
                wait "$sse" 2>/dev/null || true
                events="$(grep -c '^event: state' "$work/events.txt" || true)"
                ((events > 0)) || die "the open variant's event stream received nothing"
            fi
            r="$(jq --arg v "$variant" --argjson round "$round" --argjson d "$d" --argjson t "$CLK_TCK" \
                --argjson events "$events" --argjson idle "$idle_ms" \
                '{variant: $v, round: $round, rps, p99_ms: .latency_ms.p99, errors: .errors.total, requests,
                  sse_events: $events, idle_cpu_ms_per_s: $idle,
                  mesh_cpu_us_per_request: (if .requests > 0 then ($d / $t / .requests * 1e6 | . * 100 | round / 100) else null end)}' <<<"$r")"
            jq -r '"    \(.variant) round \(.round): \(.rps) req/s, p99 \(.p99_ms) ms, mesh \(.mesh_cpu_us_per_request) µs CPU/request, errors \(.errors), idle \(.idle_cpu_ms_per_s) ms CPU/s, page events \(.sse_events)"' <<<"$r" >&2
            results="$(jq --argjson r "$r" '. + [$r]' <<<"$results")"
            mesh_down
        done
    done
    jq '{runs: ., best: (group_by(.variant) | map({key: .[0].variant, value: {
            mesh_cpu_us_per_request: (map(.mesh_cpu_us_per_request) | min),
            idle_cpu_ms_per_s: (map(.idle_cpu_ms_per_s) | sort | .[length / 2 | floor]),
            p99_ms: (map(.p99_ms) | min), rps: (map(.rps) | max), errors: (map(.errors) | add)}}) | from_entries)}
        | .overhead_pct = ((.best.open.mesh_cpu_us_per_request / .best.closed.mesh_cpu_us_per_request - 1) * 1000 | round / 10)
        | .collector_cpu_ms_per_s = (.best.open.idle_cpu_ms_per_s - .best.closed.idle_cpu_ms_per_s | . * 100 | round / 100)
        | .derived_overhead_pct = (.collector_cpu_ms_per_s * 1000 / .best.closed.rps / .best.closed.mesh_cpu_us_per_request * 100 | . * 1000 | round / 1000)
        | .target_under_1pct = (.derived_overhead_pct < 1)' <<<"$results"
}

# dash_table JSON_FILE
dash_table() {
    echo
    printf '%-8s %18s %9s %10s %7s %18s\n' variant "mesh µs CPU/req" p99_ms req/s errors "idle ms CPU/s"
    jq -r '.best | to_entries[] | [.key, .value.mesh_cpu_us_per_request, .value.p99_ms, .value.rps, .value.errors, .value.idle_cpu_ms_per_s] | @tsv' "$1" |
        while IFS=$'\t' read -r v c p r e i; do printf '%-8s %18s %9s %10s %7s %18s\n' "$v" "$c" "$p" "$r" "$e" "$i"; done
    jq -r '"dashboard open vs closed, CPU per request under load (best of the rounds): \(.overhead_pct) %",
        "the collector: \(.collector_cpu_ms_per_s) ms CPU per second = \(.derived_overhead_pct) % of the CPU per request at the closed rate (target < 1 %)"' "$1"
}
