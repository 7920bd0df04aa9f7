# shellcheck shell=bash
# The cost of the sidecars with mTLS (sourced by scripts/bench.sh), measured as Istio's
# performance page measures its proxies: the chain paced at ~1,000 req/s over 16 connections,
# edge only (`up --no-sidecars`) against every workload with its sidecar (mTLS between them),
# rounds interleaved, a fresh mesh each. Per variant: req/s and latency p50/p90/p99; with
# sidecars: each sidecar's vCPU and RSS, and the sidecars' vCPU per 1,000 req/s proxied (a
# chain request crosses three sidecars: the aggregator's inbound and outbound, the scorer's
# inbound).

SC_WORKLOADS=(kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced)
# Sidecar passes per chain request (aggregator in + out, one scorer in).
SC_PASSES=3
# 16 connections each pausing this long between requests: about 1,000 req/s in all.
SC_DELAY_MS=15

# sidecar_run VARIANT SECONDS WARMUP ROUND : one measured run, as JSON.
sidecar_run() {
    local variant="$1" secs="$2" warm="$3" round="$4" work="$5"
    local saved="${MESH_SIDECARS:-0}"
    MESH_SIDECARS=0
    [[ "$variant" == sidecars ]] && MESH_SIDECARS=1
    mesh_up "$work"
    MESH_SIDECARS="$saved"
    local url="http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report"
    ((warm > 0)) && BENCH_DELAY_MS=$SC_DELAY_MS run_wrk "sidecars-warmup" "$url" "$warm" 16 2 >/dev/null
    local -A pid=() before=()
    local procs=(envoy) p r cpu="{}" rss="{}" d
    [[ "$variant" == sidecars ]] && for p in "${SC_WORKLOADS[@]}"; do procs+=("sidecar:$p"); done
    for p in "${procs[@]}"; do
        pid[$p]="$(child_pid "$p")" || die "no $p under kyc-mesh (pid $MESH_PID)"
        before[$p]="$(cpu_ticks "${pid[$p]}")"
    done
    r="$(BENCH_DELAY_MS=$SC_DELAY_MS run_wrk "sidecars-$variant" "$url" "$secs" 16 2)"
    for p in "${procs[@]}"; do
        d=$(($(cpu_ticks "${pid[$p]}") - before[$p]))
        cpu="$(jq --arg p "$p" --argjson d "$d" --argjson t "$CLK_TCK" --argjson s "$(jq .duration_s <<<"$r")" \
            '. + {($p): ($d / $t / $s * 1000 | round / 1000)}' <<<"$cpu")"
        rss="$(jq --arg p "$p" --argjson kb "$(rss_kb "${pid[$p]}")" '. + {($p): ($kb / 1024 * 10 | round / 10)}' <<<"$rss")"
    done
    mesh_down
    jq --arg v "$variant" --argjson round "$round" --argjson vcpu "$cpu" --argjson rss "$rss" \
        '{variant: $v, round: $round, rps, latency_ms, errors, vcpu: $vcpu, rss_mb: $rss}' <<<"$r"
}

# sidecar_ab WORK SECONDS WARMUP ROUNDS : every run and the summary, as JSON.
sidecar_ab() {
    local work="$1" secs="$2" warm="$3" rounds="$4" runs="[]" round variant
    for ((round = 1; round <= rounds; round++)); do
        for variant in edge sidecars; do
            info "sidecar cost: $variant, round $round/$rounds, ${secs}s at ~1000 req/s, 16 connections"
            runs="$(jq --argjson r "$(sidecar_run "$variant" "$secs" "$warm" "$round" "$work")" '. + [$r]' <<<"$runs")"
        done
    done
    jq --argjson passes "$SC_PASSES" '
        def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
        def of(v): map(select(.variant == v));
        def lat(v; q): of(v) | map(.latency_ms[q]) | median;
        . as $runs
        | ($runs | of("sidecars") | map(.vcpu | to_entries | map(select(.key | startswith("sidecar:"))) | map(.value) | add) | median) as $sc_vcpu
        | ($runs | of("sidecars") | map(.rps) | median) as $sc_rps
        | {runs: $runs,
           summary: {
             edge: {rps: ($runs | of("edge") | map(.rps) | median), p50: lat("edge"; "p50"), p90: lat("edge"; "p90"), p99: lat("edge"; "p99"),
                    gateway_vcpu: ($runs | of("edge") | map(.vcpu.envoy) | median)},
             sidecars: {rps: $sc_rps, p50: lat("sidecars"; "p50"), p90: lat("sidecars"; "p90"), p99: lat("sidecars"; "p99"),
                        gateway_vcpu: ($runs | of("sidecars") | map(.vcpu.envoy) | median),
                        sidecars_vcpu: $sc_vcpu,
                        rss_mb_per_sidecar: ($runs | of("sidecars") | map(.rss_mb | to_entries | map(select(.key | startswith("sidecar:"))) | map(.value) | add / length * 10 | round / 10) | median)},
             added_ms: {p90: ((lat("sidecars"; "p90") - lat("edge"; "p90")) * 1000 | round / 1000),
                        p99: ((lat("sidecars"; "p99") - lat("edge"; "p99")) * 1000 | round / 1000)},
             vcpu_per_sidecar_per_1000_rps: (if $sc_rps > 0 then ($sc_vcpu / ($passes * $sc_rps / 1000) * 1000 | round / 1000) else null end),
             sidecar_passes_per_request: $passes,
             istio_published: {added_p90_ms: 2.76, added_p99_ms: 2.88, vcpu_per_proxy_per_1000_rps: 0.5, mb_per_proxy: 50}}}' <<<"$runs"
}

# sidecar_table FILE : the summary, for the terminal.
sidecar_table() {
    jq -r '.summary | "                      edge only   sidecars+mTLS   added    Istio (client+server proxy)",
        "  req/s              \(.edge.rps)      \(.sidecars.rps)",
        "  p90 ms             \(.edge.p90)       \(.sidecars.p90)        \(.added_ms.p90)    \(.istio_published.added_p90_ms)",
        "  p99 ms             \(.edge.p99)       \(.sidecars.p99)        \(.added_ms.p99)    \(.istio_published.added_p99_ms)",
        "  vCPU per sidecar per 1000 req/s: \(.vcpu_per_sidecar_per_1000_rps) (Istio \(.istio_published.vcpu_per_proxy_per_1000_rps))",
        "  RSS per sidecar MB: \(.sidecars.rss_mb_per_sidecar) (Istio \(.istio_published.mb_per_proxy))",
        "  gateway vCPU: edge \(.edge.gateway_vcpu), with sidecars \(.sidecars.gateway_vcpu)"' "$1"
}
