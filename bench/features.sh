# shellcheck shell=bash
# The cost of each mesh feature on the sidecar pair (sourced by scripts/bench.sh after bench/lib.sh
# and bench/sidecars.sh). Istio's performance page: "every feature Istio adds also adds to the path
# length inside the proxy". Measured here one feature at a time against a plain sidecar pair:
# Istio's path (bench/sidecars.sh: as the aggregator through its sidecar to the basic scorer's
# sidecar and app), oha at a fixed 1,000 req/s with latency correction over 16 connections,
# variants interleaved in rounds, a fresh mesh each.
#
#   plain       sidecars with every feature below off: the client sidecar speaks plaintext to the
#               server sidecar (DestinationRule tls DISABLE), no AuthorizationPolicy, no
#               retries (a mesh VirtualService with attempts 0), no outlier detection, no access
#               log, no tracer, no Prometheus scraping
#   mtls        + mutual TLS between the sidecars (ISTIO_MUTUAL, SPIFFE SANs checked: the default)
#   rbac        + an AuthorizationPolicy on the scorer (ALLOW POST on /credit-check/*): the RBAC
#               filter evaluates it per request (a rule on principals would need mTLS on too)
#   access-log  + `up --access-log`: every Envoy writes one line per request
#   tracing     + Envoy's tracer at 100 % into `up`'s OTLP receiver (the services' own exporters
#               off: OTEL_TRACES_SAMPLER=always_off)
#   stats       + Prometheus scraping every Envoy and service every 2 s, as `up` runs it (Envoy keeps its stats always;
#               this is the cost of reading them)
#   retries     + retries on (attempts 3, perTryTimeout 500ms, 5xx,reset,connect-failure,refused-stream)
#   outlier     + outlier detection (consecutive 5xx 5, interval 10s), as networking/ sets it
#   jwt         + RequestAuthentication (RS256, the demo JWKS) and an AuthorizationPolicy requiring
#               a verified principal on the scorer (every variant sends the same token)
#
# Per variant: added p50/p90/p99/p99.9 against plain (per round, then the median of the rounds with
# its spread) and the two sidecars' CPU per request in µs.

FT_VARIANTS=(plain mtls rbac access-log tracing stats retries outlier jwt)
FT_RATE=1000

# ft_dr TLS_MODE OUTLIER(0|1) : the basic scorer's DestinationRule.
ft_dr() {
    cat <<YAML
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: kyc-credit-check-basic
spec:
  host: kyc-credit-check-basic
  trafficPolicy:
    tls:
      mode: $1
YAML
    (($2)) && cat <<YAML
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
YAML
    cat <<YAML
  subsets:
    - name: v1
      labels:
        version: v1
---
YAML
}

# ft_vs ATTEMPTS : the mesh route to the basic scorer (what the client sidecar applies).
ft_vs() {
    cat <<YAML
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: kyc-credit-check-basic-mesh
spec:
  hosts:
    - kyc-credit-check-basic
  http:
    - route:
        - destination:
            host: kyc-credit-check-basic
            subset: v1
            port:
              number: 8080
YAML
    if (($1)); then
        cat <<YAML
      retries:
        attempts: $1
        perTryTimeout: 500ms
        retryOn: 5xx,reset,connect-failure,refused-stream
---
YAML
    else
        printf '      retries:\n        attempts: 0\n---\n'
    fi
}

# ft_rbac : an ALLOW policy on the scorer matched on the request (method and path), so the RBAC
# filter evaluates a rule per request without needing mTLS (a principal would: see mtls).
ft_rbac() {
    cat <<YAML
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: kyc-credit-check-basic-bench
spec:
  selector:
    matchLabels:
      app: kyc-credit-check-basic
  action: ALLOW
  rules:
    - to:
        - operation:
            methods:
              - POST
            paths:
              - /credit-check/*
---
YAML
}

# ft_jwt JWKS : verification of the demo issuer's tokens on the scorer, a principal required.
ft_jwt() {
    cat <<YAML
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: kyc-credit-check-basic-bench-jwt
spec:
  selector:
    matchLabels:
      app: kyc-credit-check-basic
  jwtRules:
    - issuer: kyc-demo@banknext.example
      audiences:
        - kyc-api
      jwks: '$1'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: kyc-credit-check-basic-bench-jwt
spec:
  selector:
    matchLabels:
      app: kyc-credit-check-basic
  action: ALLOW
  rules:
    - from:
        - source:
            requestPrincipals:
              - "*"
---
YAML
}

# ft_scenario VARIANT FILE JWKS : write the variant's scenario file.
ft_scenario() {
    local v="$1" tls=DISABLE outlier=0 attempts=0
    [[ "$v" == mtls ]] && tls=ISTIO_MUTUAL
    [[ "$v" == outlier ]] && outlier=1
    [[ "$v" == retries ]] && attempts=3
    {
        ft_dr "$tls" "$outlier"
        ft_vs "$attempts"
        [[ "$v" == rbac ]] && ft_rbac
        [[ "$v" == jwt ]] && ft_jwt "$3"
        true
    } >"$2"
}

# ft_run VARIANT SECONDS WARMUP ROUND WORK JWKS : one mesh, the pair measured, as JSON.
ft_run() {
    local v="$1" secs="$2" warm="$3" round="$4" work="$5" jwks="$6" r
    local scenario="$work/feature-$v.yaml" args=() saved_s="${MESH_SIDECARS:-0}" saved_t="${MESH_TRACES:-0}" saved_p="${MESH_PROMETHEUS:-0}"
    ft_scenario "$v" "$scenario" "$jwks"
    args=(--scenario "$scenario")
    [[ "$v" == access-log ]] && args+=(--access-log)
    if [[ "$v" == tracing ]]; then
        local s
        for s in "${SC_WORKLOADS[@]}"; do args+=(--service-env "$s:OTEL_TRACES_SAMPLER=always_off"); done
    fi
    MESH_SIDECARS=1 MESH_TRACES=0 MESH_PROMETHEUS=0
    [[ "$v" == tracing ]] && MESH_TRACES=1
    [[ "$v" == stats ]] && MESH_PROMETHEUS=1
    mesh_up "$work" "${args[@]}"
    MESH_SIDECARS="$saved_s" MESH_TRACES="$saved_t" MESH_PROMETHEUS="$saved_p"
    local url
    url="http://127.0.0.1:$(sc_status_port "$SC_CLIENT" outbound)$SC_SERVER_PATH"
    r="$(BENCH_HOST="$SC_SERVER_HOST" sc_measure "feature-$v" "$url" "$secs" "$warm" "$FT_RATE" \
        "sidecar:$SC_CLIENT" "sidecar:$SC_SERVER")"
    mesh_down
    jq --arg v "$v" --argjson round "$round" '{variant: $v, round: $round} + .' <<<"$r"
}

# features_ab WORK SECONDS WARMUP ROUNDS [VARIANT...] : every run and the summary, as JSON.
features_ab() {
    local work="$1" secs="$2" warm="$3" rounds="$4" runs="[]" round v jwks
    shift 4
    local variants=("${@:-${FT_VARIANTS[@]}}")
    [[ "${variants[0]}" == plain ]] || variants=(plain "${variants[@]}")
    jwks="$("$MESH_BIN" token --jwks | jq -c .)" || die "kyc-mesh token --jwks failed"
    BENCH_AUTH="Bearer $("$MESH_BIN" token --sub bench --expires-in 2h)" || die "kyc-mesh token failed"
    export BENCH_AUTH
    for ((round = 1; round <= rounds; round++)); do
        for v in "${variants[@]}"; do
            info "feature cost: $v, round $round/$rounds, pair at $FT_RATE req/s, ${secs}s"
            runs="$(jq --argjson r "$(ft_run "$v" "$secs" "$warm" "$round" "$work" "$jwks")" '. + [$r]' <<<"$runs")"
        done
    done
    unset BENCH_AUTH
    features_summary <<<"$runs"
}

# features_summary : the runs (JSON array on stdin) and their summary per variant, as JSON.
features_summary() {
    jq --arg client "sidecar:$SC_CLIENT" --arg server "sidecar:$SC_SERVER" "$BENCH_JQ_STATS"'
        def cpu_us: (.vcpu[$client] + .vcpu[$server]) / .rps * 1000000;
        . as $runs
        # In the order measured (plain first), not sorted.
        | ($runs | map(select(.round == 1) | .variant)) as $names
        | {runs: $runs,
           summary: ($names | map(. as $v | $runs | map(select(.variant == $v))) | map({key: .[0].variant, value: (. as $mine | {
               p50: (map(.latency_ms.p50) | median), p90: (map(.latency_ms.p90) | median),
               p99: (map(.latency_ms.p99) | median), p99_9: (map(.latency_ms.p99_9) | median),
               rps: (map(.rps) | median), errors: (map(.errors.total) | add),
               cpu_us_per_request: (map(cpu_us) | spread),
               added_vs_plain_ms: (reduce ("p50", "p90", "p99", "p99_9") as $q ({};
                   . + {($q): ($mine | map(. as $r | ($runs | map(select(.variant == "plain" and .round == $r.round))[0].latency_ms[$q]) as $p
                                              | $r.latency_ms[$q] - $p) | spread)})),
               added_cpu_us_vs_plain: ($mine | map(. as $r | ($runs | map(select(.variant == "plain" and .round == $r.round))[0] | cpu_us) as $p
                                                  | ($r | cpu_us) - $p) | spread)})}) | from_entries)}'
}

# features_table FILE : one line per feature (each alone, against plain), for the terminal.
features_table() {
    jq -r 'def pad(n): tostring | . + " " * ([n - length, 0] | max);
        def sp(x): "\(x.median) [\(x.min)..\(x.max)]";
        "  \("feature" | pad(14))\("p50 ms" | pad(9))\("p99 ms" | pad(9))\("added p90 ms" | pad(26))\("added p99 ms" | pad(28))\("added CPU µs/request" | pad(28))errors",
        (.summary | to_entries[] | "  \(.key | pad(14))\(.value.p50 | pad(9))\(.value.p99 | pad(9))\(sp(.value.added_vs_plain_ms.p90) | pad(26))\(sp(.value.added_vs_plain_ms.p99) | pad(28))\(sp(.value.added_cpu_us_vs_plain) | pad(28))\(.value.errors)")' "$1"
}
