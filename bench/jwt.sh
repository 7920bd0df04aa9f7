# shellcheck shell=bash
# The cost of end-user authentication (sourced by scripts/bench.sh after bench/lib.sh and
# bench/sidecars.sh): the chain on the aggregator's port (its sidecar inbound, where the jwt-auth
# scenario verifies tokens) at a fixed 1,000 req/s (oha, latency corrected) over 16 connections,
# with sidecars, in two variants, rounds interleaved, a fresh mesh each:
#
#   off  networking/ alone: the aggregator's sidecar has no jwt_authn filter
#   jwt  `--scenario networking/scenarios/jwt-auth.yaml`: jwt_authn (RS256, 2048-bit demo key)
#        plus the RBAC on the verified payload (requestPrincipals, the scope claim)
#
# Both variants send the same POST with the same `Authorization: Bearer` token (scope kyc.write),
# so the only difference is the verification. Envoy's JWT cache is off (istiod does not set
# jwt_cache_config): every request's signature is verified, as for many users' tokens.
# Per run: req/s, latency p50/p90/p99, the vCPU of the aggregator's sidecar and of the gateway.

JWT_SCENARIO="$BENCH_ROOT/networking/scenarios/jwt-auth.yaml"
JWT_SIDECAR="sidecar:kyc-aggregator-mgt"

# jwt_run VARIANT SECONDS WARMUP ROUND WORK : one mesh, the chain measured, as JSON.
jwt_run() {
    local variant="$1" secs="$2" warm="$3" round="$4" work="$5" r saved="${MESH_SIDECARS:-0}"
    local scenario=()
    [[ "$variant" == jwt ]] && scenario=(--scenario "$JWT_SCENARIO")
    MESH_SIDECARS=1
    mesh_up "$work" ${scenario[@]+"${scenario[@]}"}
    MESH_SIDECARS="$saved"
    r="$(sc_measure "jwt-$variant" "http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report" \
        "$secs" "$warm" 1000 "$JWT_SIDECAR" envoy)"
    mesh_down
    jq --arg v "$variant" --argjson round "$round" '{variant: $v, round: $round} + .' <<<"$r"
}

# jwt_ab WORK SECONDS WARMUP ROUNDS : every run and the summary, as JSON.
jwt_ab() {
    local work="$1" secs="$2" warm="$3" rounds="$4" runs="[]" round variant
    BENCH_AUTH="Bearer $("$MESH_BIN" token --sub bench --scope kyc.read --scope kyc.write --expires-in 2h)" ||
        die "kyc-mesh token failed"
    export BENCH_AUTH
    for ((round = 1; round <= rounds; round++)); do
        for variant in off jwt; do
            info "JWT cost: $variant, round $round/$rounds, ${secs}s at ~1000 req/s, 16 connections"
            runs="$(jq --argjson r "$(jwt_run "$variant" "$secs" "$warm" "$round" "$work")" '. + [$r]' <<<"$runs")"
        done
    done
    unset BENCH_AUTH
    jq --arg sc "$JWT_SIDECAR" '
        def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
        def r3: . * 1000 | round / 1000;
        def of(v): map(select(.variant == v));
        def lat(v; q): of(v) | map(.latency_ms[q]) | median;
        def vcpu(v; p): of(v) | map(.vcpu[p]) | median;
        def per1000(v; p): of(v) | map(.vcpu[p] / .rps * 1000) | median;
        . as $runs
        | {runs: $runs,
           summary: {
             off: {rps: ($runs | of("off") | map(.rps) | median), p50: lat("off"; "p50"), p90: lat("off"; "p90"),
                   p99: lat("off"; "p99"), errors: ($runs | of("off") | map(.errors.total) | add)},
             jwt: {rps: ($runs | of("jwt") | map(.rps) | median), p50: lat("jwt"; "p50"), p90: lat("jwt"; "p90"),
                   p99: lat("jwt"; "p99"), errors: ($runs | of("jwt") | map(.errors.total) | add)},
             added_ms: {p50: ((lat("jwt"; "p50") - lat("off"; "p50")) | r3),
                        p90: ((lat("jwt"; "p90") - lat("off"; "p90")) | r3),
                        p99: ((lat("jwt"; "p99") - lat("off"; "p99")) | r3)},
             added_ms_per_round: {p50: [$runs | group_by(.round)[] | (of("jwt")[0].latency_ms.p50 - of("off")[0].latency_ms.p50) | r3]},
             sidecar_vcpu_per_1000_rps: {off: ($runs | per1000("off"; $sc) | r3), jwt: ($runs | per1000("jwt"; $sc) | r3)},
             sidecar_cpu_us_added_per_request: ((($runs | per1000("jwt"; $sc)) - ($runs | per1000("off"; $sc))) * 1000 | . * 10 | round / 10),
             gateway_vcpu: {off: ($runs | vcpu("off"; "envoy")), jwt: ($runs | vcpu("jwt"; "envoy"))}}}' <<<"$runs"
}

# jwt_table FILE : the result, for the terminal.
jwt_table() {
    jq -r '.summary |
        "JWT validation at the aggregator'"'"'s sidecar (chain, fixed 1000 req/s, medians):",
        "  off: \(.off.rps) req/s, p50 \(.off.p50) ms, p90 \(.off.p90) ms, p99 \(.off.p99) ms, errors \(.off.errors)",
        "  jwt: \(.jwt.rps) req/s, p50 \(.jwt.p50) ms, p90 \(.jwt.p90) ms, p99 \(.jwt.p99) ms, errors \(.jwt.errors)",
        "  added: p50 \(.added_ms.p50) ms, p90 \(.added_ms.p90) ms, p99 \(.added_ms.p99) ms (p50 per round: \(.added_ms_per_round.p50 | map(tostring) | join(", ")))",
        "  sidecar vCPU per 1000 req/s: off \(.sidecar_vcpu_per_1000_rps.off), jwt \(.sidecar_vcpu_per_1000_rps.jwt): \(.sidecar_cpu_us_added_per_request) µs CPU added per request"' "$1"
}
