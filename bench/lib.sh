# shellcheck shell=bash
# The benchmarks' helpers (sourced by scripts/bench.sh, scripts/resilience.sh and bench/*.sh, never
# run), on top of THE project library scripts/lib.sh (output, tools, the local mesh on free ports).
# Everything runs on 127.0.0.1; every load run is bounded by a duration.

# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"
# Progress goes to stderr here: the benchmarks' standard output carries their results.
info() { printf '==> %s\n' "$*" >&2; }

BENCH_ROOT="$KYC_ROOT"
BENCH_DIR="$BENCH_ROOT/bench"
BENCH_BODY="$KYC_APPLICANT"
BENCH_LUA="$BENCH_DIR/wrk.lua"
# The load generators: wrk from Debian/Ubuntu (upstream 4.1.0; checked, not just assumed) for
# closed-loop throughput, and oha from crates.io for a fixed rate with latency correction (what
# Istio's and AKS's performance pages use: a schedule, not a pause per connection).
WRK_VERSION="4.1.0"
OHA_VERSION="1.16.0"
# The cargo profile built and run: scripts/bench.sh measures `perf` (LTO, one codegen unit);
# the behaviour checks (scripts/resilience.sh) run `release`, what users build.
BENCH_PROFILE="${BENCH_PROFILE:-release}"
BIN_DIR="${KYC_BIN_DIR:-$BENCH_ROOT/target/$BENCH_PROFILE}"
MESH_BIN="$BIN_DIR/kyc-mesh"
SERVICES=("${KYC_SERVICES[@]}")
# shellcheck disable=SC2034 # used by the scripts that source this file
CLK_TCK="$(getconf CLK_TCK)"

# wrk_version : e.g. 4.1.0 (Debian prints "wrk debian/4.1.0-3+b2 [epoll] ...").
wrk_version() {
    wrk -v 2>&1 | head -n1 | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n1 || true
}

# ensure_tools : wrk (pinned upstream version), jq, curl, python3; installs wrk/jq/curl if missing.
ensure_tools() {
    local t
    for t in wrk jq curl; do
        command -v "$t" >/dev/null 2>&1 || apt_install "$t"
    done
    command -v python3 >/dev/null 2>&1 || die "python3 is required (apt-get install python3)"
    local v
    v="$(wrk_version)"
    if [[ "$v" != "$WRK_VERSION" ]]; then
        warn "wrk ${v:-?} found; these scripts were written and measured with wrk $WRK_VERSION (figures may not compare)"
    fi
}

# oha_version : e.g. 1.16.0 ("oha 1.16.0").
oha_version() {
    oha --version 2>/dev/null | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n1 || true
}

# ensure_oha : oha at OHA_VERSION on PATH (cargo install --locked, once, into ~/.cargo/bin).
ensure_oha() {
    [[ "$(oha_version)" == "$OHA_VERSION" ]] && return 0
    command -v cargo >/dev/null 2>&1 || die "oha $OHA_VERSION is required for the fixed-rate runs: install Rust (https://rustup.rs), then 'cargo install --locked oha --version $OHA_VERSION'"
    info "cargo install --locked oha --version $OHA_VERSION (once, about 4 minutes on 2 cores)"
    cargo install --locked --quiet oha --version "$OHA_VERSION" >&2 || die "cargo install oha $OHA_VERSION failed"
    export PATH="$HOME/.cargo/bin:$PATH"
    [[ "$(oha_version)" == "$OHA_VERSION" ]] || die "oha $OHA_VERSION installed but '$(command -v oha)' is $(oha_version)"
}

# run_oha LABEL URL DURATION_S CONNECTIONS RATE : oha at a fixed RATE req/s over CONNECTIONS
# keep-alive HTTP/1.1 connections, latency corrected (a request's latency counts from when the
# schedule wanted to send it: coordinated omission), POSTing the applicant (BENCH_HOST and
# BENCH_AUTH as for run_wrk); requests still in flight at the end are waited for, not dropped.
# Prints JSON in run_wrk's shape: rps, latency_ms {p50, p90, p99, p99_9, max}, errors, statuses.
run_oha() {
    local label="$1" url="$2" dur="$3" conns="$4" rate="$5" out
    local extra=()
    [[ -z "${BENCH_HOST:-}" ]] || extra+=(-H "Host: $BENCH_HOST")
    [[ -z "${BENCH_AUTH:-}" ]] || extra+=(-H "Authorization: $BENCH_AUTH")
    out="$(oha --no-tui --output-format json -z "${dur}s" -w -c "$conns" -q "$rate" --latency-correction \
        -t 5s -m POST -T application/json -D "$BENCH_BODY" ${extra[@]+"${extra[@]}"} "$url" 2>&1)" ||
        die "oha failed for $label: $out"
    jq -c --arg name "$label" --argjson rate "$rate" '
        def ms(x): (x // 0) * 1000000 | round / 1000;
        (.statusCodeDistribution | to_entries | map(.value) | add // 0) as $answered
        | (.errorDistribution | to_entries | map(.value) | add // 0) as $failed
        | (.statusCodeDistribution | to_entries | map(select(.key | startswith("2") | not) | .value) | add // 0) as $bad
        | {label: $name, target_rps: $rate, requests: ($answered + $failed), duration_s: .summary.total,
           rps: (.summary.requestsPerSec * 10 | round / 10),
           latency_ms: {mean: ms(.summary.average), p50: ms(.latencyPercentiles.p50), p90: ms(.latencyPercentiles.p90),
                        p99: ms(.latencyPercentiles.p99), p99_9: ms(.latencyPercentiles["p99.9"]), max: ms(.summary.slowest)},
           errors: {total: ($failed + $bad), status: $bad, socket: $failed, kinds: .errorDistribution},
           statuses: .statusCodeDistribution}' <<<"$out" 2>/dev/null ||
        die "oha printed no result for $label: ${out:0:400}"
}

# The statistics every fixed-rate stage summarises its rounds with (jq definitions, prepended to
# a stage's summary program): the median (the lower one of an even count), three decimals, and
# {median, min, max} of a list (the spread of the rounds).
# shellcheck disable=SC2034 # used by the scripts that source this file
BENCH_JQ_STATS='
    def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
    def r3: . * 1000 | round / 1000;
    def spread: {median: (median | r3), min: (min | r3), max: (max | r3)};'

# fixed_rate_run LABEL URL SECONDS WARMUP RATE CONNECTIONS [NAME=PID...] : an oha run at a fixed
# RATE (BENCH_HOST as set by the caller, after WARMUP unmeasured seconds) and the vCPU each named
# process used during it (utime+stime from /proc, all threads), as JSON {target_rps, rps,
# latency_ms, errors: {total}, vcpu: {NAME: vCPU}}.
fixed_rate_run() {
    local label="$1" url="$2" secs="$3" warm="$4" rate="$5" conns="$6" np name r d cpu="{}"
    shift 6
    local -A pid=() before=()
    ((warm > 0)) && run_oha "$label-warmup" "$url" "$warm" "$conns" "$rate" >/dev/null
    for np in "$@"; do
        name="${np%=*}"
        pid[$name]="${np##*=}"
        before[$name]="$(cpu_ticks "${pid[$name]}")"
    done
    r="$(run_oha "$label" "$url" "$secs" "$conns" "$rate")"
    for name in "${!pid[@]}"; do
        d=$(($(cpu_ticks "${pid[$name]}") - before[$name]))
        cpu="$(jq --arg p "$name" --argjson d "$d" --argjson t "$CLK_TCK" --argjson s "$(jq .duration_s <<<"$r")" \
            '. + {($p): ($d / $t / $s * 1000 | round / 1000)}' <<<"$cpu")"
    done
    jq --argjson vcpu "$cpu" '{target_rps, rps, latency_ms, errors: {total: .errors.total}, vcpu: $vcpu}' <<<"$r"
}

# mem_json PID : the process's memory in MB as JSON {rss, pss, anon}. RSS counts every resident
# page it maps, the binary's text included, which every copy of that binary on the machine shares
# (one copy in the page cache: every Envoy shares Envoy's 52 MB); PSS divides each shared page
# among the processes mapping it (so it falls as more copies run); anon (Anonymous) is the memory
# that is this process's own whatever else runs (heap, stats, connections, thread stacks): what
# one more proxy costs the machine. (Private_* is not used: when this is the only process mapping
# the binary, its text counts there.)
mem_json() {
    awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Anonymous:/ {a=$2}
         END {printf "{\"rss\":%.1f,\"pss\":%.1f,\"anon\":%.1f}\n", r/1024, p/1024, a/1024}' \
        "/proc/$1/smaps_rollup" 2>/dev/null || echo '{"rss":0,"pss":0,"anon":0}'
}

# ensure_binaries BUILD : build the binaries (BUILD=1: `cargo build --profile $BENCH_PROFILE`, into
# target/$BENCH_PROFILE) or check they exist.
ensure_binaries() {
    if (($1)); then
        command -v cargo >/dev/null 2>&1 || die "cargo is required to build (https://rustup.rs), or pass --no-build"
        info "cargo build --profile $BENCH_PROFILE --workspace --bins"
        (cd "$BENCH_ROOT" && cargo build --locked --profile "$BENCH_PROFILE" --workspace --bins)
    fi
    local b
    for b in "${SERVICES[@]}" kyc-mesh; do
        [[ -x "$BIN_DIR/$b" ]] || die "$BIN_DIR/$b not found; build with 'cargo build --profile $BENCH_PROFILE --workspace --bins' (or run without --no-build)"
    done
}

# rss_kb PID : VmRSS in kB (0 when the process is gone).
rss_kb() {
    awk '/^VmRSS:/ {print $2; found=1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0
}

# cpu_ticks PID : utime+stime of the process (all threads), in clock ticks.
cpu_ticks() {
    local stat rest f
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || {
        echo 0
        return 0
    }
    rest="${stat##*) }"
    read -ra f <<<"$rest"
    echo $((f[11] + f[12]))
}

# run_wrk LABEL URL DURATION_S CONNECTIONS THREADS [POST=1] [COUNT=0] : run wrk, print its BENCH_JSON object.
run_wrk() {
    local label="$1" url="$2" dur="$3" conns="$4" threads="$5" post="${6:-1}" count="${7:-0}"
    local body=""
    ((post)) && body="$BENCH_BODY"
    local out
    out="$(BENCH_BODY_FILE="$body" BENCH_LABEL="$label" BENCH_COUNT="$( ((count)) && echo 1 || true)" BENCH_DELAY_MS="${BENCH_DELAY_MS:-}" BENCH_HOST="${BENCH_HOST:-}" BENCH_AUTH="${BENCH_AUTH:-}" \
        wrk -t "$threads" -c "$conns" -d "${dur}s" --timeout 5s -s "$BENCH_LUA" "$url" 2>&1)" ||
        die "wrk failed for $label: $out"
    grep '^BENCH_JSON ' <<<"$out" | head -n1 | cut -d' ' -f2- | grep . ||
        die "wrk printed no result for $label: $out"
}

# envoy_stat NAME : one counter from Envoy's admin (0 if absent).
envoy_stat() {
    local re="${1//|/\\|}"
    curl -s "http://127.0.0.1:$P_ADMIN/stats?filter=$(jq -rn --arg s "^$re\$" '$s|@uri')" |
        awk -F': ' -v n="$1" '$1 == n {print $2; found=1} END {if (!found) print 0}'
}

# mesh_cluster PORT : the name of the one Envoy cluster whose endpoint is 127.0.0.1:PORT in this
# run's configuration (`kyc-mesh render --format json` with mesh_args): kyc-mesh names clusters
# as istiod does, and that spelling is read from it, never retyped here.
mesh_cluster() {
    local args names
    mapfile -t args < <(mesh_args)
    names="$("$MESH_BIN" "${args[@]}" render --format json |
        jq -r --argjson port "$1" '.static_resources.clusters[]
            | select(any(.load_assignment.endpoints[]?.lb_endpoints[]?;
                         .endpoint.address.socket_address.port_value == $port))
            | .name')" || die "kyc-mesh render --format json failed"
    [[ -n "$names" && "$names" != *$'\n'* ]] ||
        die "expected one Envoy cluster with an endpoint on port $1, found: ${names:-none}"
    printf '%s\n' "$names"
}

# machine_json : this machine and the versions used, as JSON.
machine_json() {
    local cpu mem kernel envoy_v rustc_v wrk_v oha_v commit
    cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    mem="$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    kernel="$(uname -r)"
    envoy_v="$("$ENVOY_BIN" --version 2>/dev/null | grep -o 'version: [0-9a-f]*/[0-9.]*' | cut -d/ -f2 | head -n1 || true)"
    rustc_v="$(rustc --version 2>/dev/null || echo unknown)"
    wrk_v="wrk $(wrk_version) ($(wrk -v 2>&1 | head -n1 | cut -d' ' -f2))"
    oha_v="$(command -v oha >/dev/null 2>&1 && echo "oha $(oha_version)" || echo none)"
    commit="$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    jq -n --arg cpu "$cpu" --arg mem "$mem" --arg kernel "$kernel" --argjson nproc "$(nproc)" \
        --arg envoy "$envoy_v" --arg rustc "$rustc_v" --arg wrk "$wrk_v" --arg oha "$oha_v" --arg commit "$commit" \
        --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        '{date: $date, nproc: $nproc, cpu: $cpu, memory: $mem, kernel: $kernel,
          load_average_at_start: $load, envoy: $envoy, rustc: $rustc, wrk: $wrk, oha: $oha, commit: $commit}'
}
