# shellcheck shell=bash
# Helpers shared by the deploy scripts (sourced, never run).

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
