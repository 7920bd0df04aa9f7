# shellcheck shell=bash
# The cost of the sidecars with mTLS (sourced by scripts/bench.sh), measured as Istio's
# performance page measures its proxies: paced at ~1,000 req/s over 16 connections, edge only
# (`up --no-sidecars`) against every workload with its sidecar (mTLS between them), rounds
# interleaved, a fresh mesh each. Two paths per mesh, the same posted applicant both ways:
#
# - pair (Istio's own method: fortio client pod → server pod, "both sidecars" against "no
#   sidecars"): as the aggregator, through its sidecar's outbound listener (Host
#   kyc-credit-check-basic:8080, what `kyc-mesh curl --from` does) over mTLS to the basic
#   scorer's sidecar inbound, against the scorer's app port directly: exactly one client and
#   one server proxy;
# - chain: the aggregator's `/kyc/v1/customer?type=report`, which crosses three sidecars (the
#   aggregator's inbound and outbound, one scorer's inbound) and the gateway in both variants.
#
# Per run: req/s and latency p50/p90/p99 and each proxy's vCPU; per mesh: each Envoy's memory
# as RSS, PSS and anonymous (see sc_mem_json).

SC_WORKLOADS=(kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced)
# Sidecar passes per chain request (aggregator in + out, one scorer in).
SC_PASSES=3
# 16 connections each pausing this long between requests: about 1,000 req/s in all.
SC_DELAY_MS=15
# The pair: the client's identity and the Service it calls (Host header, path).
SC_CLIENT=kyc-aggregator-mgt
SC_SERVER=kyc-credit-check-basic
SC_SERVER_HOST="kyc-credit-check-basic:8080"
SC_SERVER_PATH="/credit-check/basic"

# sc_mem_json PID : the process's memory in MB as JSON {rss, pss, anon}. RSS counts every resident
# page it maps, the Envoy binary's text included, which every Envoy on the machine shares (one
# copy in the page cache); PSS divides each shared page among the processes mapping it (so it
# falls as more Envoys run); anon (Anonymous) is the memory that is this process's own whatever
# else runs (heap, stats, connections, thread stacks): what one more sidecar costs the machine.
# (Private_* is not used: when this is the only process mapping the binary, its text counts there.)
sc_mem_json() {
    awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Anonymous:/ {a=$2}
         END {printf "{\"rss\":%.1f,\"pss\":%.1f,\"anon\":%.1f}\n", r/1024, p/1024, a/1024}' \
        "/proc/$1/smaps_rollup" 2>/dev/null || echo '{"rss":0,"pss":0,"anon":0}'
}

# sc_status_port WORKLOAD FIELD : a port from the running mesh's status file (`kyc-mesh status`'s
# source): FIELD is `outbound` (its sidecar's outbound listener) or `instance` (its app's port).
sc_status_port() {
    local f="$MESH_STATE/run/mesh.json" port
    port="$(jq -r --arg w "$1" --arg f "$2" '.workloads[] | select(.name == $w)
        | if $f == "outbound" then .sidecar.outbound else .instance.port end // empty' "$f" 2>/dev/null)"
    [[ "$port" =~ ^[0-9]+$ ]] || die "no $2 port for $1 in $f"
    echo "$port"
}

# sc_measure LABEL URL SECONDS WARMUP PROC... : a paced wrk run (BENCH_HOST as set by the caller)
# and the vCPU each named kyc-mesh child (see child_pid) used during it, as JSON.
sc_measure() {
    local label="$1" url="$2" secs="$3" warm="$4" p r d cpu="{}"
    shift 4
    local -A pid=() before=()
    ((warm > 0)) && BENCH_DELAY_MS=$SC_DELAY_MS run_wrk "$label-warmup" "$url" "$warm" 16 2 >/dev/null
    for p in "$@"; do
        pid[$p]="$(child_pid "$p")" || die "no $p under kyc-mesh (pid $MESH_PID)"
        before[$p]="$(cpu_ticks "${pid[$p]}")"
    done
    r="$(BENCH_DELAY_MS=$SC_DELAY_MS run_wrk "$label" "$url" "$secs" 16 2)"
    for p in "$@"; do
        d=$(($(cpu_ticks "${pid[$p]}") - before[$p]))
        cpu="$(jq --arg p "$p" --argjson d "$d" --argjson t "$CLK_TCK" --argjson s "$(jq .duration_s <<<"$r")" \
            '. + {($p): ($d / $t / $s * 1000 | round / 1000)}' <<<"$cpu")"
    done
    jq --argjson vcpu "$cpu" '{rps, latency_ms, errors, vcpu: $vcpu}' <<<"$r"
}

# sidecar_run VARIANT SECONDS WARMUP ROUND WORK : one mesh, both paths measured, as JSON.
sidecar_run() {
    local variant="$1" secs="$2" warm="$3" round="$4" work="$5"
    local saved="${MESH_SIDECARS:-0}" p chain pair mem="{}" url host=""
    MESH_SIDECARS=0
    [[ "$variant" == sidecars ]] && MESH_SIDECARS=1
    mesh_up "$work"
    MESH_SIDECARS="$saved"
    local procs=(envoy) pair_procs=()
    if [[ "$variant" == sidecars ]]; then
        for p in "${SC_WORKLOADS[@]}"; do procs+=("sidecar:$p"); done
        pair_procs=("sidecar:$SC_CLIENT" "sidecar:$SC_SERVER")
        url="http://127.0.0.1:$(sc_status_port "$SC_CLIENT" outbound)$SC_SERVER_PATH"
        host="$SC_SERVER_HOST"
    else
        url="http://127.0.0.1:$(sc_status_port "$SC_SERVER" instance)$SC_SERVER_PATH"
    fi
    chain="$(sc_measure "sidecars-chain-$variant" "http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report" \
        "$secs" "$warm" "${procs[@]}")"
    pair="$(BENCH_HOST="$host" sc_measure "sidecars-pair-$variant" "$url" "$secs" "$warm" \
        ${pair_procs[@]+"${pair_procs[@]}"})"
    for p in "${procs[@]}"; do
        mem="$(jq --arg p "$p" --argjson m "$(sc_mem_json "$(child_pid "$p")")" '. + {($p): $m}' <<<"$mem")"
    done
    mesh_down
    jq -n --arg v "$variant" --argjson round "$round" --argjson chain "$chain" --argjson pair "$pair" \
        --argjson mem "$mem" '{variant: $v, round: $round, chain: $chain, pair: $pair, memory_mb: $mem}'
}

# sidecar_ab WORK SECONDS WARMUP ROUNDS : every run and the summary, as JSON.
sidecar_ab() {
    local work="$1" secs="$2" warm="$3" rounds="$4" runs="[]" round variant
    for ((round = 1; round <= rounds; round++)); do
        for variant in edge sidecars; do
            info "sidecar cost: $variant, round $round/$rounds, 2 × ${secs}s at ~1000 req/s, 16 connections"
            runs="$(jq --argjson r "$(sidecar_run "$variant" "$secs" "$warm" "$round" "$work")" '. + [$r]' <<<"$runs")"
        done
    done
    jq --argjson passes "$SC_PASSES" --arg client "sidecar:$SC_CLIENT" --arg server "sidecar:$SC_SERVER" '
        def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
        def r3: . * 1000 | round / 1000;
        def of(v): map(select(.variant == v));
        def lat(v; path; q): of(v) | map(.[path].latency_ms[q]) | median;
        def side(v; path): {rps: (of(v) | map(.[path].rps) | median), p50: lat(v; path; "p50"),
                            p90: lat(v; path; "p90"), p99: lat(v; path; "p99"),
                            errors: (of(v) | map(.[path].errors.total) | add)};
        def added(path): {p90: ((lat("sidecars"; path; "p90") - lat("edge"; path; "p90")) | r3),
                          p99: ((lat("sidecars"; path; "p99") - lat("edge"; path; "p99")) | r3)};
        # Per round (edge and sidecars measured back to back): how much a noisy round moved it.
        def per_round(path; q): [group_by(.round)[] | (of("sidecars")[0][path].latency_ms[q] - of("edge")[0][path].latency_ms[q]) | r3];
        def sidecar_mem(f): of("sidecars") | map(.memory_mb | to_entries | map(select(.key | startswith("sidecar:")))
                            | map(.value[f]) | add / length * 10 | round / 10) | median;
        . as $runs
        | ($runs | of("sidecars") | map(.chain.vcpu | to_entries | map(select(.key | startswith("sidecar:"))) | map(.value) | add) | median) as $chain_vcpu
        | ($runs | of("sidecars") | map(.pair.vcpu[$client] + .pair.vcpu[$server]) | median) as $pair_vcpu
        | ($runs | of("sidecars") | map(.chain.rps) | median) as $chain_rps
        | ($runs | of("sidecars") | map(.pair.rps) | median) as $pair_rps
        | {runs: $runs,
           summary: {
             pair: {edge: ($runs | side("edge"; "pair")), sidecars: ($runs | side("sidecars"; "pair")),
                    added_ms: ($runs | added("pair")),
                    added_ms_per_round: {p90: ($runs | per_round("pair"; "p90")), p99: ($runs | per_round("pair"; "p99"))},
                    client_vcpu: ($runs | of("sidecars") | map(.pair.vcpu[$client]) | median),
                    server_vcpu: ($runs | of("sidecars") | map(.pair.vcpu[$server]) | median),
                    vcpu_per_proxy_per_1000_rps: (if $pair_rps > 0 then ($pair_vcpu / (2 * $pair_rps / 1000) | r3) else null end)},
             chain: {edge: ($runs | side("edge"; "chain")), sidecars: ($runs | side("sidecars"; "chain")),
                     added_ms: ($runs | added("chain")),
                     added_ms_per_round: {p90: ($runs | per_round("chain"; "p90")), p99: ($runs | per_round("chain"; "p99"))},
                     gateway_vcpu: {edge: ($runs | of("edge") | map(.chain.vcpu.envoy) | median),
                                    sidecars: ($runs | of("sidecars") | map(.chain.vcpu.envoy) | median)},
                     sidecars_vcpu: $chain_vcpu, sidecar_passes_per_request: $passes,
                     vcpu_per_sidecar_per_1000_rps: (if $chain_rps > 0 then ($chain_vcpu / ($passes * $chain_rps / 1000) | r3) else null end)},
             memory_mb_per_sidecar: {rss: sidecar_mem("rss"), pss: sidecar_mem("pss"), anon: sidecar_mem("anon")},
             gateway_memory_mb: {edge: ($runs | of("edge") | map(.memory_mb.envoy) | .[0]),
                                 sidecars: ($runs | of("sidecars") | map(.memory_mb.envoy) | .[0])},
             istio_published: {added_p90_ms: 2.76, added_p99_ms: 2.88, vcpu_per_proxy_per_1000_rps: 0.5, mb_per_proxy: 50}}}' <<<"$runs"
}

# sidecar_table FILE : the verdict, for the terminal: each line ours, Istio's, below Istio's?
sidecar_table() {
    jq -r '.summary as $s | $s.istio_published as $i
        | def yes(ours; istio): if ours == null then "n/a" elif ours < istio then "yes" else "NO" end;
          def pad(n): tostring | . + " " * ([n - length, 0] | max);
          def row(name; ours; unit; istio): "  \(name | pad(48))\("\(ours)\(unit)" | pad(11))\("\(istio)\(unit)" | pad(9))\(yes(ours; istio))";
        "  \("line" | pad(48))\("ours" | pad(11))\("Istio" | pad(9))below Istio?",
        row("p90 added, one client + one server proxy"; $s.pair.added_ms.p90; " ms"; $i.added_p90_ms),
        row("p99 added, one client + one server proxy"; $s.pair.added_ms.p99; " ms"; $i.added_p99_ms),
        row("vCPU per proxy per 1000 req/s (pair)"; $s.pair.vcpu_per_proxy_per_1000_rps; ""; $i.vcpu_per_proxy_per_1000_rps),
        row("memory per sidecar, its own (anonymous)"; $s.memory_mb_per_sidecar.anon; " MB"; $i.mb_per_proxy),
        row("memory per sidecar, PSS"; $s.memory_mb_per_sidecar.pss; " MB"; $i.mb_per_proxy),
        row("memory per sidecar, RSS (binary counted each)"; $s.memory_mb_per_sidecar.rss; " MB"; $i.mb_per_proxy),
        row("chain: p90 added (3 sidecar hops)"; $s.chain.added_ms.p90; " ms"; $i.added_p90_ms),
        row("chain: p99 added (3 sidecar hops)"; $s.chain.added_ms.p99; " ms"; $i.added_p99_ms),
        row("chain: vCPU per sidecar per 1000 req/s"; $s.chain.vcpu_per_sidecar_per_1000_rps; ""; $i.vcpu_per_proxy_per_1000_rps),
        "",
        "  added per round (p90; p99 ms): pair \($s.pair.added_ms_per_round.p90); \($s.pair.added_ms_per_round.p99), chain \($s.chain.added_ms_per_round.p90); \($s.chain.added_ms_per_round.p99)",
        "  pair  req/s edge \($s.pair.edge.rps) / sidecars \($s.pair.sidecars.rps); p90 \($s.pair.edge.p90) / \($s.pair.sidecars.p90) ms; p99 \($s.pair.edge.p99) / \($s.pair.sidecars.p99) ms; errors \($s.pair.edge.errors) / \($s.pair.sidecars.errors)",
        "  chain req/s edge \($s.chain.edge.rps) / sidecars \($s.chain.sidecars.rps); p90 \($s.chain.edge.p90) / \($s.chain.sidecars.p90) ms; p99 \($s.chain.edge.p99) / \($s.chain.sidecars.p99) ms; errors \($s.chain.edge.errors) / \($s.chain.sidecars.errors)",
        (if (.machine.load_average_at_start // "" | split(" ")[0] | tonumber? // 0) > (.machine.nproc // 1) / 2
         then "  NOTE: load average \(.machine.load_average_at_start) at start on \(.machine.nproc) cores: other work shared the cores; the latency lines are not conclusive"
         else empty end),
        "  gateway vCPU (chain): edge \($s.chain.gateway_vcpu.edge), with sidecars \($s.chain.gateway_vcpu.sidecars); gateway memory: RSS \($s.gateway_memory_mb.sidecars.rss), PSS \($s.gateway_memory_mb.sidecars.pss), anonymous \($s.gateway_memory_mb.sidecars.anon) MB"' "$1"
}
