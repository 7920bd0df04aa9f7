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
# The load generator: wrk from Debian/Ubuntu (upstream 4.1.0; checked, not just assumed).
WRK_VERSION="4.1.0"
BIN_DIR="${KYC_BIN_DIR:-$BENCH_ROOT/target/release}"
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

# ensure_binaries BUILD : build the release binaries (BUILD=1) or check they exist.
ensure_binaries() {
    if (($1)); then
        command -v cargo >/dev/null 2>&1 || die "cargo is required to build (https://rustup.rs), or pass --no-build"
        info "cargo build --release --workspace --bins"
        (cd "$BENCH_ROOT" && cargo build --release --workspace --bins)
    fi
    local b
    for b in "${SERVICES[@]}" kyc-mesh; do
        [[ -x "$BIN_DIR/$b" ]] || die "$BIN_DIR/$b not found; build with 'cargo build --release --workspace --bins' (or run without --no-build)"
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
    local cpu mem kernel envoy_v rustc_v wrk_v commit
    cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    mem="$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    kernel="$(uname -r)"
    envoy_v="$("$ENVOY_BIN" --version 2>/dev/null | grep -o 'version: [0-9a-f]*/[0-9.]*' | cut -d/ -f2 | head -n1 || true)"
    rustc_v="$(rustc --version 2>/dev/null || echo unknown)"
    wrk_v="wrk $(wrk_version) ($(wrk -v 2>&1 | head -n1 | cut -d' ' -f2))"
    commit="$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    jq -n --arg cpu "$cpu" --arg mem "$mem" --arg kernel "$kernel" --argjson nproc "$(nproc)" \
        --arg envoy "$envoy_v" --arg rustc "$rustc_v" --arg wrk "$wrk_v" --arg commit "$commit" \
        --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        '{date: $date, nproc: $nproc, cpu: $cpu, memory: $mem, kernel: $kernel,
          load_average_at_start: $load, envoy: $envoy, rustc: $rustc, wrk: $wrk, commit: $commit}'
}
