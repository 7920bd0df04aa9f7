# shellcheck shell=bash
# The cost of `kyc-mesh up`'s own OTLP receiver at 100 % sampling, A/B in one run (sourced by
# scripts/bench.sh after bench/lib.sh). The whole mesh with its sidecars (what `up` runs by
# default), under the same wrk load through the gateway (client -> gateway -> aggregator's sidecar
# -> aggregator -> its sidecar -> gateway -> scorer's sidecar -> scorer):
#   off  `kyc-mesh up --no-traces`: nothing traced                       (the baseline)
#   on   `kyc-mesh up` as by default: the receiver on, every service and every Envoy tracing every
#        request into it (13 spans and 5 access-log lines per request)
# each variant a fresh mesh, interleaved over TRACES_ROUNDS rounds. Reported, best of the rounds:
# the CPU of every process of the mesh per request (kyc-mesh, each Envoy, each service), the
# receiver's share of the mesh's CPU (kyc-mesh's own CPU on minus off, per request, over the mesh's
# per request on; target < 5 %), kyc-mesh's RSS after the load and the store's fill against its
# limits (GET /api/traces), req/s and p99. Writes TRACES_OUT (JSON) and prints a table.

# traces_pids : kyc-mesh and every process under it.
traces_pids() {
    local todo=("$MESH_PID") p kids
    while ((${#todo[@]})); do
        p="${todo[0]}"
        todo=("${todo[@]:1}")
        echo "$p"
        kids="$(cat "/proc/$p/task/"*/children 2>/dev/null || true)"
        for k in $kids; do todo+=("$k"); done
    done
}

# traces_cpu PIDS... : their CPU ticks so far, summed.
traces_cpu() {
    local total=0 p
    for p in "$@"; do total=$((total + $(cpu_ticks "$p"))); done
    echo "$total"
}

# traces_ab WORKDIR DURATION WARMUP CONNS THREADS ROUNDS
traces_ab() {
    local work="$1" dur="$2" warm="$3" conns="$4" threads="$5" rounds="$6"
    local results="[]" round variant r port store rss pids mesh_before all_before d_all d_mesh
    for ((round = 1; round <= rounds; round++)); do
        for variant in off on; do
            # mesh_up runs `up --no-traces` unless MESH_TRACES=1 (then the receiver on free ports).
            local on=0
            [[ "$variant" == on ]] && on=1
            # The dashboard only answers GET /api/traces once, at the end.
            MESH_SIDECARS=1 MESH_TRACES=$on mesh_up "$work" --dashboard-port 0
            port="$(mesh_dashboard_port)"
            mapfile -t pids < <(traces_pids)
            local url="http://127.0.0.1:$P_GW/kyc/v1/customer?type=report"
            ((warm > 0)) && run_wrk "traces-$variant-warmup" "$url" "$warm" "$conns" "$threads" >/dev/null
            all_before="$(traces_cpu "${pids[@]}")"
            mesh_before="$(cpu_ticks "$MESH_PID")"
            r="$(run_wrk "traces-$variant" "$url" "$dur" "$conns" "$threads")"
            d_all=$(($(traces_cpu "${pids[@]}") - all_before))
            d_mesh=$(($(cpu_ticks "$MESH_PID") - mesh_before))
            # The last spans reach the receiver within a second.
            sleep 1.5
            store="$(curl -fsS "http://127.0.0.1:$port/api/traces?limit=1" | jq -c '.receiver')"
            rss="$(rss_kb "$MESH_PID")"
            r="$(jq --arg v "$variant" --argjson round "$round" --argjson all "$d_all" --argjson mesh "$d_mesh" \
                --argjson t "$CLK_TCK" --argjson store "$store" --argjson rss "$rss" --argjson procs "${#pids[@]}" \
                '{variant: $v, round: $round, rps, p99_ms: .latency_ms.p99, errors: .errors.total, requests, processes: $procs,
                  mesh_cpu_us_per_request: (if .requests > 0 then ($all / $t / .requests * 1e6 | . * 100 | round / 100) else null end),
                  kyc_mesh_cpu_us_per_request: (if .requests > 0 then ($mesh / $t / .requests * 1e6 | . * 100 | round / 100) else null end),
                  kyc_mesh_rss_mb: ($rss / 1024 | . * 10 | round / 10), store: $store}' <<<"$r")"
            jq -r '"    \(.variant) round \(.round): \(.rps) req/s, p99 \(.p99_ms) ms, mesh \(.mesh_cpu_us_per_request) µs CPU/request (kyc-mesh \(.kyc_mesh_cpu_us_per_request)), kyc-mesh RSS \(.kyc_mesh_rss_mb) MB, store \(.store.traces // 0) traces \((.store.bytes // 0) / 1048576 | . * 10 | round / 10) MiB, errors \(.errors)"' <<<"$r" >&2
            results="$(jq --argjson r "$r" '. + [$r]' <<<"$results")"
            mesh_down
        done
    done
    jq '{runs: ., best: (group_by(.variant) | map({key: .[0].variant, value: {
            mesh_cpu_us_per_request: (map(.mesh_cpu_us_per_request) | min),
            kyc_mesh_cpu_us_per_request: (map(.kyc_mesh_cpu_us_per_request) | min),
            p99_ms: (map(.p99_ms) | min), rps: (map(.rps) | max), errors: (map(.errors) | add),
            kyc_mesh_rss_mb: (map(.kyc_mesh_rss_mb) | max)}}) | from_entries)}
        | .store = ([.runs[] | select(.variant == "on") | .store] | max_by(.bytes))
        | .receiver_share_pct = ((.best.on.kyc_mesh_cpu_us_per_request - .best.off.kyc_mesh_cpu_us_per_request)
            / .best.on.mesh_cpu_us_per_request * 1000 | round / 10)
        | .tracing_overhead_pct = ((.best.on.mesh_cpu_us_per_request / .best.off.mesh_cpu_us_per_request - 1) * 1000 | round / 10)
        | .targets = {receiver_under_5pct: (.receiver_share_pct < 5),
                      store_within_limits: (.store.bytes <= .store.maxBytes and .store.traces <= .store.maxTraces)}' <<<"$results"
}

# traces_table JSON_FILE
traces_table() {
    echo
    printf '%-5s %20s %24s %9s %10s %7s %14s\n' variant "mesh µs CPU/req" "kyc-mesh µs CPU/req" p99_ms req/s errors "kyc-mesh RSS MB"
    jq -r '.best | to_entries[] | [.key, .value.mesh_cpu_us_per_request, .value.kyc_mesh_cpu_us_per_request, .value.p99_ms, .value.rps, .value.errors, .value.kyc_mesh_rss_mb] | @tsv' "$1" |
        while IFS=$'\t' read -r v c k p r e m; do printf '%-7s %18s %24s %9s %10s %7s %14s\n' "$v" "$c" "$k" "$p" "$r" "$e" "$m"; done
    jq -r '"the receiver (kyc-mesh, on minus off): \(.receiver_share_pct) % of the mesh'"'"'s CPU per request (target < 5 %: \(if .targets.receiver_under_5pct then "MET" else "MISSED" end))"' "$1"
    jq -r '"tracing every request (the receiver, 5 Envoys and 3 services exporting): \(.tracing_overhead_pct) % more mesh CPU per request"' "$1"
    jq -r '.store | "the store after the load: \(.traces) traces, \(.bytes / 1048576 | . * 10 | round / 10) MiB of at most \(.maxTraces) traces / \(.maxBytes / 1048576) MiB; \(.tracesDropped) dropped as the oldest, \(.spansReceived) spans received, \(.payloadsRejected + .payloadsTooLarge) payloads refused"' "$1"
    jq -r '"memory within the configured bounds: \(if .targets.store_within_limits then "MET" else "MISSED" end)"' "$1"
}
