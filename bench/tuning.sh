#!/usr/bin/env bash
# Settings experiments for BENCHMARKS.md ("Tuning: measured effects"): short scripts/bench.sh runs
# of each variant, interleaved ROUNDS times so background noise hits every variant alike, then a
# table of the means. CPU time per request is the figure to compare (throughput moves with
# whatever else runs on the box).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
    cat <<USAGE
Usage: bench/tuning.sh [ROUNDS] [OUT_DIR]

Runs scripts/bench.sh (--no-build, 1 s warm-up + 5 s per path, 5 s paced, no soak) for each variant,
ROUNDS times (default 2), results in OUT_DIR (default target/bench/tuning):
  default      the services as kyc-mesh starts them (KYC_LOG_LEVEL=info, KYC_LOG_FORMAT=pretty)
  log-warn     KYC_LOG_LEVEL=warn on the three services (no per-request log line)
  log-json     KYC_LOG_FORMAT=json (the services' default outside kyc-mesh)
  envoy-c1     Envoy with --concurrency 1 (one worker thread instead of one per core)
  tokio-1      TOKIO_WORKER_THREADS=1 on the three services
Then prints, per variant, the median req/s and CPU ms per request (median, min-max) of the chain
and gateway paths, and the paced run's vCPU per 1000 req/s (all processes).
OUT_DIR keeps earlier rounds' files: re-running with a new OUT_DIR starts afresh.
USAGE
}
[[ "${1:-}" == -h || "${1:-}" == --help ]] && {
    usage
    exit 0
}
ROUNDS="${1:-2}"
OUT="${2:-$ROOT/target/bench/tuning}"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || {
    echo "error: ROUNDS must be a whole number > 0" >&2
    exit 1
}
mkdir -p "$OUT"

envoy="${KYC_ENVOY_BIN:-$("$ROOT/scripts/run-local.sh" --print-envoy)}"
wrapper="$(mktemp "${TMPDIR:-/tmp}/envoy-concurrency-1.XXXXXX")"
trap 'rm -f "$wrapper"' EXIT
printf '#!/bin/sh\nexec %q --concurrency 1 "$@"\n' "$envoy" >"$wrapper"
chmod +x "$wrapper"

common=(--no-build --duration 5 --warmup 1 --soak-requests 0 --ready-runs 1 --paced 5)
svc=(kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced)
warn=() tokio=()
for s in "${svc[@]}"; do
    warn+=(--service-env "$s:KYC_LOG_LEVEL=warn")
    tokio+=(--service-env "$s:TOKIO_WORKER_THREADS=1")
done

log="$(mktemp "${TMPDIR:-/tmp}/kyc-tuning-log.XXXXXX")"
echo "==> progress of the bench runs: $log" >&2
for ((r = 1; r <= ROUNDS; r++)); do
    echo "==> round $r/$ROUNDS" >&2
    {
        "$ROOT/scripts/bench.sh" "${common[@]}" --out "$OUT/default-$r.json" >/dev/null
        "$ROOT/scripts/bench.sh" "${common[@]}" "${warn[@]}" --out "$OUT/log-warn-$r.json" >/dev/null
        KYC_LOG_FORMAT=json "$ROOT/scripts/bench.sh" "${common[@]}" --out "$OUT/log-json-$r.json" >/dev/null
        KYC_ENVOY_BIN="$wrapper" "$ROOT/scripts/bench.sh" "${common[@]}" --out "$OUT/envoy-c1-$r.json" >/dev/null
        "$ROOT/scripts/bench.sh" "${common[@]}" "${tokio[@]}" --out "$OUT/tokio-1-$r.json" >/dev/null
    } 2>>"$log"
done

printf '%-10s %5s %14s %28s %14s %28s %22s\n' variant runs "chain req/s" "chain CPU ms/req med (min-max)" "gw req/s" "gw CPU ms/req med (min-max)" "paced vCPU/1k rps med"
for v in default log-warn log-json envoy-c1 tokio-1; do
    jq -s -r --arg v "$v" '
        def p($l): [.[] | .paths[] | select(.label == $l)];
        def cpu: [.cpu_ms_per_request[] | select(. != null)] | add;
        def med: sort | .[length / 2 | floor];
        def r3: . * 1000 | round / 1000;
        def spread(f): (map(f) | "\(med | r3) (\(min | r3)-\(max | r3))");
        [$v, length,
         (p("chain") | map(.rps) | med | round),
         (p("chain") | spread(cpu)),
         (p("gateway") | map(.rps) | med | round),
         (p("gateway") | spread(cpu)),
         (map(.paced_chain_1000rps.vcpu_per_1000_rps | [.[]] | add) | med | r3)] | @tsv' \
        "$OUT"/"$v"-*.json |
        while IFS=$'\t' read -r a b c d e f g; do
            printf '%-10s %5s %14s %28s %14s %28s %22s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g"
        done
done
