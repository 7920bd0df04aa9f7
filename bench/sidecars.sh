# shellcheck shell=bash
# The cost of the sidecars with mTLS (sourced by scripts/bench.sh), measured as Istio's
# performance page measures its proxies: oha at a fixed rate with latency correction (1,000 req/s,
# then 250 and 4,000 for the curve) over 16 connections, edge only (`up --no-sidecars`) against every workload with its sidecar (mTLS between them), rounds
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
# Per run: req/s, latency p50/p90/p99/p99.9 and each proxy's vCPU; per mesh: each Envoy's memory
# as RSS, PSS and anonymous (see mem_json in bench/lib.sh).

SC_WORKLOADS=(kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced)
# Sidecar passes per chain request (aggregator in + out, one scorer in).
SC_PASSES=3
# The fixed rates (req/s) of the pair, in the order measured: Istio's 1,000 first, then the curve.
SC_RATES="${SC_RATES:-1000 250 4000}"
# The chain's fixed rate (req/s) and every run's connections (Istio's page: 16).
SC_CHAIN_RATE=1000
SC_CONNS=16
# The pair: the client's identity and the Service it calls (Host header, path).
SC_CLIENT=kyc-aggregator-mgt
SC_SERVER=kyc-credit-check-basic
SC_SERVER_HOST="kyc-credit-check-basic:8080"
SC_SERVER_PATH="/credit-check/basic"

# sc_status_port WORKLOAD FIELD : a port from the running mesh's status file (`kyc-mesh status`'s
# source): FIELD is `outbound` (its sidecar's outbound listener) or `instance` (its app's port).
sc_status_port() {
    local f="$MESH_STATE/run/mesh.json" port
    port="$(jq -r --arg w "$1" --arg f "$2" '.workloads[] | select(.name == $w)
        | if $f == "outbound" then .sidecar.outbound else .instance.port end // empty' "$f" 2>/dev/null)"
    [[ "$port" =~ ^[0-9]+$ ]] || die "no $2 port for $1 in $f"
    echo "$port"
}

# sc_measure LABEL URL SECONDS WARMUP RATE PROC... : fixed_rate_run over SC_CONNS connections,
# with the vCPU of each named kyc-mesh child (see child_pid).
sc_measure() {
    local label="$1" url="$2" secs="$3" warm="$4" rate="$5" p pid procs=()
    shift 5
    for p in "$@"; do
        pid="$(child_pid "$p")" || die "no $p under kyc-mesh (pid $MESH_PID)"
        procs+=("$p=$pid")
    done
    fixed_rate_run "$label" "$url" "$secs" "$warm" "$rate" "$SC_CONNS" ${procs[@]+"${procs[@]}"}
}

# sidecar_run VARIANT SECONDS WARMUP ROUND WORK : one mesh, the chain at SC_CHAIN_RATE and the pair
# at each of SC_RATES, as JSON ({pair: {"1000": run, ...}}).
sidecar_run() {
    local variant="$1" secs="$2" warm="$3" round="$4" work="$5"
    local saved="${MESH_SIDECARS:-0}" p chain pairs="{}" mem="{}" url host="" rate
    MESH_SIDECARS=0
    [[ "$variant" == sidecars ]] && MESH_SIDECARS=1
    mesh_up "$work" ${SC_UP_ARGS[@]+"${SC_UP_ARGS[@]}"}
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
        "$secs" "$warm" "$SC_CHAIN_RATE" "${procs[@]}")"
    for rate in $SC_RATES; do
        pairs="$(jq --arg r "$rate" --argjson run "$(BENCH_HOST="$host" sc_measure "sidecars-pair-$variant-$rate" "$url" \
            "$secs" "$warm" "$rate" ${pair_procs[@]+"${pair_procs[@]}"})" '. + {($r): $run}' <<<"$pairs")"
    done
    for p in "${procs[@]}"; do
        mem="$(jq --arg p "$p" --argjson m "$(mem_json "$(child_pid "$p")")" '. + {($p): $m}' <<<"$mem")"
    done
    mesh_down
    jq -n --arg v "$variant" --argjson round "$round" --argjson chain "$chain" --argjson pair "$pairs" \
        --argjson mem "$mem" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
        '{variant: $v, round: $round, load_average_at_end: $load, chain: $chain, pair: $pair, memory_mb: $mem}'
}

# sidecar_ab WORK SECONDS WARMUP ROUNDS : every run and the summary, as JSON. Added latency is
# sidecars − edge per round (the two meshes measured back to back), summarised as the median of
# the rounds with their spread (min, max).
sidecar_ab() {
    local work="$1" secs="$2" warm="$3" rounds="$4" runs="[]" round variant
    for ((round = 1; round <= rounds; round++)); do
        for variant in edge sidecars; do
            info "sidecar cost: $variant, round $round/$rounds, chain at $SC_CHAIN_RATE req/s, pair at ${SC_RATES// /, } req/s, ${secs}s each, $SC_CONNS connections"
            runs="$(jq --argjson r "$(sidecar_run "$variant" "$secs" "$warm" "$round" "$work")" '. + [$r]' <<<"$runs")"
        done
    done
    jq --argjson passes "$SC_PASSES" --arg client "sidecar:$SC_CLIENT" --arg server "sidecar:$SC_SERVER" \
        --arg rates "$SC_RATES" "$BENCH_JQ_STATS"'
        def of(v): map(select(.variant == v));
        # run(path): the run of that path ("chain" or ["pair", rate]) in one mesh.
        def run(path): getpath(path);
        def side(v; path): of(v) | {rps: (map(run(path).rps) | median),
            p50: (map(run(path).latency_ms.p50) | median), p90: (map(run(path).latency_ms.p90) | median),
            p99: (map(run(path).latency_ms.p99) | median), p99_9: (map(run(path).latency_ms.p99_9) | median),
            errors: (map(run(path).errors.total) | add)};
        # Per round (edge and sidecars measured back to back), then the median and spread of the rounds.
        def added(path): . as $runs | [group_by(.round)[] | select(length == 2)] as $rounds
            | reduce ("p50", "p90", "p99", "p99_9") as $q ({};
                . + {($q): ($rounds | map((of("sidecars")[0] | run(path).latency_ms[$q]) - (of("edge")[0] | run(path).latency_ms[$q])) | spread)});
        def sidecar_mem(f): of("sidecars") | map(.memory_mb | to_entries | map(select(.key | startswith("sidecar:")))
                            | map(.value[f]) | add / length * 10 | round / 10) | median;
        def per_proxy(path; vcpu; proxies): of("sidecars") | map((run(path) | vcpu) / (proxies * run(path).rps / 1000)) | spread;
        . as $runs
        | {runs: $runs,
           summary: {
             pair: ($rates | split(" ") | map(select(. != "")) | map(. as $r | {key: $r, value: ($runs | {
                        edge: side("edge"; ["pair", $r]), sidecars: side("sidecars"; ["pair", $r]),
                        added_ms: added(["pair", $r]),
                        client_vcpu: (of("sidecars") | map(.pair[$r].vcpu[$client]) | median),
                        server_vcpu: (of("sidecars") | map(.pair[$r].vcpu[$server]) | median),
                        vcpu_per_proxy_per_1000_rps: per_proxy(["pair", $r]; .vcpu[$client] + .vcpu[$server]; 2)})}) | from_entries),
             chain: ($runs | {edge: side("edge"; ["chain"]), sidecars: side("sidecars"; ["chain"]),
                     added_ms: added(["chain"]),
                     gateway_vcpu: {edge: (of("edge") | map(.chain.vcpu.envoy) | median),
                                    sidecars: (of("sidecars") | map(.chain.vcpu.envoy) | median)},
                     sidecar_passes_per_request: $passes,
                     vcpu_per_sidecar_per_1000_rps: per_proxy(["chain"]; .vcpu | to_entries | map(select(.key | startswith("sidecar:")) | .value) | add; $passes)}),
             memory_mb_per_sidecar: {rss: ($runs | sidecar_mem("rss")), pss: ($runs | sidecar_mem("pss")), anon: ($runs | sidecar_mem("anon"))},
             gateway_memory_mb: {edge: ($runs | of("edge") | map(.memory_mb.envoy) | .[0]),
                                 sidecars: ($runs | of("sidecars") | map(.memory_mb.envoy) | .[0])},
             load_average_at_end: ($runs | map(.load_average_at_end)),
             # Istio 1.24 (istio.io, Performance and Scalability, "Performance summary for Istio 1.24"):
             # a sidecar with 2 workers at 1,000 req/s of 1 KB: 0.20 vCPU, 60 MB. Added latency of the
             # client + server proxies at 1,000 req/s, 16 connections: 1.7 ms p90, 2.7 ms p99 (Istio 1.12,
             # telemetry v2; later pages show it only as graphs). The targets of issue 20:
             # +0.5 ms p90, +1.0 ms p99, 0.10 vCPU, 15 MB anonymous.
             istio_published: {version: "1.24", vcpu_per_proxy_per_1000_rps: 0.20, mb_per_proxy: 60,
                               latency_version: "1.12", added_p90_ms: 1.7, added_p99_ms: 2.7},
             targets: {added_p90_ms: 0.5, added_p99_ms: 1.0, vcpu_per_proxy_per_1000_rps: 0.10, anon_mb_per_sidecar: 15}}}' <<<"$runs"
}

# sidecar_table FILE : the verdict, for the terminal: each line ours, Istio's, the target, met?
sidecar_table() {
    jq -r '.summary as $s | $s.istio_published as $i | $s.targets as $t
        | ($s.pair["1000"] // ($s.pair | to_entries[0].value)) as $p
        | def met(ours; target): if ours == null then "n/a" elif ours <= target then "yes" else "NO" end;
          def pad(n): tostring | . + " " * ([n - length, 0] | max);
          def sp(x): "\(x.median) [\(x.min)..\(x.max)]";
          def row(name; ours; shown; unit; istio; target): "  \(name | pad(46))\("\(shown)\(unit)" | pad(24))\("\(istio)\(unit)" | pad(10))\("\(target)\(unit)" | pad(10))\(met(ours; target))";
        "  \("line (pair = one client + one server proxy)" | pad(46))\("ours: median [spread]" | pad(24))\("Istio" | pad(10))\("target" | pad(10))met?",
        row("p90 added at 1000 req/s"; $p.added_ms.p90.median; sp($p.added_ms.p90); " ms"; $i.added_p90_ms; $t.added_p90_ms),
        row("p99 added at 1000 req/s"; $p.added_ms.p99.median; sp($p.added_ms.p99); " ms"; $i.added_p99_ms; $t.added_p99_ms),
        row("vCPU per proxy per 1000 req/s"; $p.vcpu_per_proxy_per_1000_rps.median; sp($p.vcpu_per_proxy_per_1000_rps); ""; $i.vcpu_per_proxy_per_1000_rps; $t.vcpu_per_proxy_per_1000_rps),
        row("memory per sidecar, its own (anonymous)"; $s.memory_mb_per_sidecar.anon; $s.memory_mb_per_sidecar.anon; " MB"; $i.mb_per_proxy; $t.anon_mb_per_sidecar),
        "  memory per sidecar: RSS \($s.memory_mb_per_sidecar.rss) MB, PSS \($s.memory_mb_per_sidecar.pss) MB (the Envoy binary shared)",
        "",
        "  pair by rate: edge p50/p90/p99/p99.9 → sidecars, added (median of rounds), req/s, vCPU per proxy per 1000 req/s",
        ($s.pair | to_entries[] | "    \(.key | pad(5)) req/s: \(.value.edge.p50)/\(.value.edge.p90)/\(.value.edge.p99)/\(.value.edge.p99_9) → \(.value.sidecars.p50)/\(.value.sidecars.p90)/\(.value.sidecars.p99)/\(.value.sidecars.p99_9) ms; added +\(.value.added_ms.p50.median)/+\(.value.added_ms.p90.median)/+\(.value.added_ms.p99.median)/+\(.value.added_ms.p99_9.median); \(.value.edge.rps) / \(.value.sidecars.rps) req/s; \(.value.vcpu_per_proxy_per_1000_rps.median) vCPU; errors \(.value.edge.errors) / \(.value.sidecars.errors)"),
        "  chain at 1000 req/s (3 sidecar hops + gateway): p90 added \(sp($s.chain.added_ms.p90)), p99 added \(sp($s.chain.added_ms.p99)) ms; edge p99 \($s.chain.edge.p99) → \($s.chain.sidecars.p99) ms; vCPU per sidecar per 1000 req/s \($s.chain.vcpu_per_sidecar_per_1000_rps.median); errors \($s.chain.edge.errors) / \($s.chain.sidecars.errors)",
        (if (.machine.load_average_at_start // "" | split(" ")[0] | tonumber? // 0) > (.machine.nproc // 1) / 2
         then "  NOTE: load average \(.machine.load_average_at_start) at start on \(.machine.nproc) cores: other work shared the cores; the latency lines are not conclusive"
         else empty end),
        "  load average at the end of each mesh: \($s.load_average_at_end | join(" | "))",
        "  gateway vCPU (chain): edge \($s.chain.gateway_vcpu.edge), with sidecars \($s.chain.gateway_vcpu.sidecars); gateway memory: RSS \($s.gateway_memory_mb.sidecars.rss), anonymous \($s.gateway_memory_mb.sidecars.anon) MB"' "$1"
}
