#!/usr/bin/env bash
# Set the /credit-check/report weights (basic vs advanced) on the cluster.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/canary.sh [--print] BASIC ADVANCED
       scripts/canary.sh --auto [--prometheus-port N] [--no-port-forward] [KYC-MESH CANARY FLAGS...]
       scripts/canary.sh -h|--help

Sets how /credit-check/report is split between kyc-credit-check-basic (v1) and
kyc-credit-check-advanced (v2). BASIC and ADVANCED are whole numbers 0..100 that add up to 100.
\`kyc-mesh weights --print BASIC ADVANCED\` renders the VirtualService kyc-credit-check from
networking/kyc-credit-check-istio-routing.yaml with only the two weights changed (and checks
them), and 'kubectl apply -f -' applies it (the file itself is not changed; this also undoes any
scenario that replaced that VirtualService).

Examples:
  scripts/canary.sh 100 0    # all basic
  scripts/canary.sh 90 10    # 10 % canary
  scripts/canary.sh 0 100    # promoted

--auto runs the automated canary on the cluster instead (kyc-mesh canary --cluster):
port-forwards Istio's Prometheus addon (svc/prometheus in istio-system) to 127.0.0.1:N and
lets kyc-mesh step the weights with kubectl while the canary's success rate and p99 hold,
rolling back otherwise. Other flags go to kyc-mesh canary (--step-weight, --interval,
--threshold, --min-success-rate, --max-p99, --report ...). Exit code: kyc-mesh's (0
promoted, 1 rolled back, 2 usage).

Options:
  --print             print the VirtualService instead of applying it (no cluster needed)
  --auto              the automated canary (see above)
  --prometheus-port N local port of the Prometheus port-forward (default 9090)
  --no-port-forward   Prometheus already answers on 127.0.0.1:N
  -h, --help          show this help

Environment:
  KYC_NAMESPACE  namespace (default: default)
  KYC_MESH       the kyc-mesh binary (default: target/release/kyc-mesh, target/debug/kyc-mesh,
                 then PATH; built with cargo when none is found)
USAGE
}

# scripts/canary.sh --auto ...: kyc-mesh canary --cluster against the Prometheus addon.
auto() {
    local port=9090 forward=1 passthrough=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --prometheus-port)
            [[ $# -ge 2 && "$2" =~ ^[0-9]{1,5}$ ]] || die "--prometheus-port needs a port number"
            port="$2"
            shift
            ;;
        --no-port-forward) forward=0 ;;
        *) passthrough+=("$1") ;;
        esac
        shift
    done
    local mesh
    mesh="$(kyc_mesh_bin)"
    require_tool kubectl
    local url="http://127.0.0.1:$port"
    if ((forward)); then
        require_tool curl
        info "port-forward svc/prometheus (istio-system) -> $url"
        kubectl -n istio-system port-forward svc/prometheus "$port:9090" >/dev/null 2>&1 &
        # Global: the EXIT trap runs after this function has returned.
        forward_pid=$!
        trap 'kill "$forward_pid" 2>/dev/null || true' EXIT
        local deadline=$((SECONDS + 30))
        until curl -sf -o /dev/null "$url/-/ready"; do
            ((SECONDS < deadline)) || die "Prometheus did not answer on $url/-/ready within 30 s (Istio's addons installed? scripts/minikube-up.sh --addons)"
            sleep 0.5
        done
    fi
    info "automated canary on namespace $KYC_NAMESPACE, figures from $url"
    local code=0
    "$mesh" --networking "$KYC_ROOT/networking" canary --cluster --prometheus-url "$url" \
        --namespace "$KYC_NAMESPACE" ${passthrough[@]+"${passthrough[@]}"} || code=$?
    return "$code"
}

if [[ "${1:-}" == --auto ]]; then
    shift
    code=0
    auto "$@" || code=$?
    exit "$code"
fi

print_only=0
weights=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --print) print_only=1 ;;
    -*)
        usage >&2
        die "unknown option: $1"
        ;;
    *) weights+=("$1") ;;
    esac
    shift
done

if [[ ${#weights[@]} -ne 2 ]]; then
    usage >&2
    die "expected two weights, BASIC and ADVANCED"
fi
mesh="$(kyc_mesh_bin)"
# kyc-mesh checks the weights (whole numbers adding up to 100, one per destination) and edits only
# the two `weight:` lines, as `kyc-mesh canary --write` does; exit 2 naming what is wrong.
code=0
rendered="$("$mesh" --networking "$KYC_ROOT/networking" weights --print "${weights[@]}")" || code=$?
((code == 0)) || exit "$code"

if [[ "$print_only" == 1 ]]; then
    printf '%s\n' "$rendered"
    exit 0
fi

require_tool kubectl
info "setting /credit-check/report weights: basic ${weights[0]} / advanced ${weights[1]}"
printf '%s\n' "$rendered" | kubectl apply -n "$KYC_NAMESPACE" -f -
info "done. Watch the split with: scripts/smoke.sh 100"
