# shellcheck shell=bash
# The cost of observability, A/B in one run (sourced by scripts/bench.sh after bench/lib.sh):
# the chain (aggregator -> Envoy -> scorer) under the same wrk load with
#   off      KYC_METRICS=false, no OTEL_*                    (the baseline)
#   metrics  KYC_METRICS=true (the default), no OTEL_*
#   tracing  KYC_METRICS=false, OTEL_EXPORTER_OTLP_ENDPOINT at a local receiver, 100 % sampled
# each variant a fresh `kyc-mesh up`, the variants interleaved over OBS_ROUNDS rounds, reporting the
# services' CPU per request (aggregator + both scorers; Envoy is not traced here) and p99, best of the
# rounds. Writes OBS_OUT (JSON) and prints a table.

OBS_SERVICES=(kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced)

# A local OTLP/HTTP receiver that accepts every export (python3): prints its port.
obs_receiver() {
    python3 - "$1" <<'PY' &
import http.server, sys, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
with socketserver.ThreadingTCPServer(("127.0.0.1", 0), H) as s:
    open(sys.argv[1], "w").write(str(s.server_address[1])); s.serve_forever()
PY
    OBS_RECEIVER_PID=$!
}

# variant -> the --service-env arguments of `kyc-mesh up`
obs_env() {
    local variant="$1" s
    for s in "${OBS_SERVICES[@]}"; do
        case "$variant" in
        off) printf '%s\n' --service-env "$s:KYC_METRICS=false" ;;
        metrics) printf '%s\n' --service-env "$s:KYC_METRICS=true" ;;
        tracing)
            printf '%s\n' --service-env "$s:KYC_METRICS=false" \
                --service-env "$s:OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OBS_RECEIVER_PORT" \
                --service-env "$s:OTEL_TRACES_SAMPLER=always_on"
            ;;
        esac
    done
}

# obs_ab WORKDIR DURATION WARMUP CONNS THREADS ROUNDS
obs_ab() {
    local work="$1" dur="$2" warm="$3" conns="$4" threads="$5" rounds="$6"
    local port_file="$work/otlp.port"
    obs_receiver "$port_file"
    local deadline=$((SECONDS + 10))
    until [[ -s "$port_file" ]]; do
        ((SECONDS < deadline)) || die "the OTLP receiver did not start"
        sleep 0.05
    done
    OBS_RECEIVER_PORT="$(cat "$port_file")"
    local results="[]" round variant args r p before cpu d
    for ((round = 1; round <= rounds; round++)); do
        for variant in off metrics tracing; do
            mapfile -t args < <(obs_env "$variant")
            mesh_up "$work" "${args[@]}"
            declare -A pid=()
            for p in "${OBS_SERVICES[@]}"; do pid[$p]="$(child_pid "$p")"; done
            local url="http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report"
            ((warm > 0)) && run_wrk "obs-$variant-warmup" "$url" "$warm" "$conns" "$threads" >/dev/null
            before=0
            for p in "${OBS_SERVICES[@]}"; do before=$((before + $(cpu_ticks "${pid[$p]}"))); done
            r="$(run_wrk "obs-$variant" "$url" "$dur" "$conns" "$threads")"
            cpu=0
            for p in "${OBS_SERVICES[@]}"; do cpu=$((cpu + $(cpu_ticks "${pid[$p]}"))); done
            d=$((cpu - before))
            r="$(jq --arg v "$variant" --argjson round "$round" --argjson d "$d" --argjson t "$CLK_TCK" \
                '{variant: $v, round: $round, rps, p99_ms: .latency_ms.p99, errors: .errors.total, requests,
                  services_cpu_us_per_request: (if .requests > 0 then ($d / $t / .requests * 1e6 | . * 100 | round / 100) else null end)}' <<<"$r")"
            jq -r '"    \(.variant) round \(.round): \(.rps) req/s, p99 \(.p99_ms) ms, services \(.services_cpu_us_per_request) µs CPU/request, errors \(.errors)"' <<<"$r" >&2
            results="$(jq --argjson r "$r" '. + [$r]' <<<"$results")"
            mesh_down
        done
    done
    kill "$OBS_RECEIVER_PID" 2>/dev/null || true
    wait "$OBS_RECEIVER_PID" 2>/dev/null || true
    jq '{runs: ., best: (group_by(.variant) | map({key: .[0].variant, value: {
            services_cpu_us_per_request: (map(.services_cpu_us_per_request) | min),
            p99_ms: (map(.p99_ms) | min), rps: (map(.rps) | max), errors: (map(.errors) | add)}}) | from_entries)}
        | .overhead_pct = {
            metrics: ((.best.metrics.services_cpu_us_per_request / .best.off.services_cpu_us_per_request - 1) * 1000 | round / 10),
            tracing: ((.best.tracing.services_cpu_us_per_request / .best.off.services_cpu_us_per_request - 1) * 1000 | round / 10)}
        | .paired_pct = ((.runs | group_by(.round) | map(map({key: .variant, value: .services_cpu_us_per_request}) | from_entries)) as $rounds
            | def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
              {metrics: ($rounds | map((.metrics / .off - 1) * 100) | median | . * 10 | round / 10),
               tracing: ($rounds | map((.tracing / .off - 1) * 100) | median | . * 10 | round / 10)})
        | .targets = {metrics_under_3pct: (.overhead_pct.metrics < 3), tracing_under_15pct: (.overhead_pct.tracing < 15)}' <<<"$results"
}

# obs_table JSON_FILE
obs_table() {
    echo
    printf '%-9s %22s %9s %10s %7s\n' variant "services µs CPU/req" p99_ms req/s errors
    jq -r '.best | to_entries[] | [.key, .value.services_cpu_us_per_request, .value.p99_ms, .value.rps, .value.errors] | @tsv' "$1" |
        while IFS=$'\t' read -r v c p r e; do printf '%-9s %22s %9s %10s %7s\n' "$v" "$c" "$p" "$r" "$e"; done
    jq -r '"overhead vs off (CPU per request): metrics \(.overhead_pct.metrics) % (target < 3 %), tracing \(.overhead_pct.tracing) % (target < 15 %)"' "$1"
    jq -r '"median of the per-round overheads (each round'"'"'s variants side by side): metrics \(.paired_pct.metrics) %, tracing \(.paired_pct.tracing) %"' "$1"
    jq -r '"verdict (best of each variant): metrics \(if .targets.metrics_under_3pct then "MET" else "MISSED" end) (target < 3 %), tracing \(if .targets.tracing_under_15pct then "MET" else "MISSED" end) (target < 15 %)"' "$1"
}
