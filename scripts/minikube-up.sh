#!/usr/bin/env bash
# Start minikube and install Istio's demo profile, or its ambient profile (idempotent).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/minikube-up.sh [--ambient] [--addons] [-h|--help]

Starts minikube (docker driver) if it is not running, installs Istio's demo profile with
istioctl if istiod is absent, labels the namespace for sidecar injection and waits for the
control plane and the ingress gateway. Safe to run again.

Options:
  --ambient    Istio's ambient profile instead (ztunnel on each node, no sidecars) with the
               ingress gateway, the namespace labelled istio.io/dataplane-mode=ambient (its
               istio-injection label removed); the Gateway API CRDs must be there or be given
               in GATEWAY_API_CRDS (the waypoint and the canary's HTTPRoute need them). Then:
               kubectl apply -f networking/scenarios/ambient.yaml (docs/ambient.md)
  --addons     also install Kiali, Prometheus, Grafana and Jaeger from \$ISTIO_HOME/samples/addons
  -h, --help   show this help

Environment:
  MINIKUBE_PROFILE  minikube profile (default: minikube)
  MINIKUBE_DRIVER   minikube driver (default: docker)
  MINIKUBE_CPUS     CPUs for the node (default: 4)
  MINIKUBE_MEMORY   memory in MB for the node (default: 8192)
  ISTIO_PROFILE     istioctl profile (default: demo; ambient with --ambient)
  KYC_NAMESPACE     namespace labelled istio-injection=enabled, or ambient (default: default)
  GATEWAY_API_CRDS  --ambient: a file or URL of the Gateway API CRDs (standard-install.yaml),
                    applied when they are missing
  ISTIO_HOME        unpacked Istio release (needed for --addons)
  ADDONS=1          same as --addons
USAGE
}

addons="${ADDONS:-0}"
ambient=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --addons) addons=1 ;;
    --ambient) ambient=1 ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    shift
done

driver="${MINIKUBE_DRIVER:-docker}"
cpus="${MINIKUBE_CPUS:-4}"
memory="${MINIKUBE_MEMORY:-8192}"
if [[ "$ambient" == 1 ]]; then
    istio_profile="${ISTIO_PROFILE:-ambient}"
else
    istio_profile="${ISTIO_PROFILE:-demo}"
fi

tools=(minikube kubectl istioctl)
[[ "$driver" == docker ]] && tools=(docker "${tools[@]}")
require_tool "${tools[@]}"

if [[ "$addons" == 1 ]]; then
    [[ -n "${ISTIO_HOME:-}" ]] || die "--addons needs ISTIO_HOME (the unpacked Istio release, e.g. ~/istio-1.27.0)"
    [[ -d "$ISTIO_HOME/samples/addons" ]] || die "no $ISTIO_HOME/samples/addons: is ISTIO_HOME an unpacked Istio release?"
fi

if minikube status -p "$MINIKUBE_PROFILE" >/dev/null 2>&1; then
    info "minikube profile '$MINIKUBE_PROFILE' is already running"
else
    info "starting minikube profile '$MINIKUBE_PROFILE' (driver=$driver cpus=$cpus memory=${memory}MB)"
    minikube start -p "$MINIKUBE_PROFILE" --driver="$driver" --cpus="$cpus" --memory="$memory"
fi
kubectl config use-context "$MINIKUBE_PROFILE" >/dev/null

if kubectl get deployment istiod -n istio-system >/dev/null 2>&1; then
    info "Istio is already installed (istiod found in istio-system)"
else
    info "installing Istio (profile $istio_profile)"
    if [[ "$ambient" == 1 ]]; then
        # The ambient profile has no ingress gateway; networking/'s Gateway selects Istio's.
        istioctl install --set "profile=$istio_profile" \
            --set "components.ingressGateways[0].name=istio-ingressgateway" \
            --set "components.ingressGateways[0].enabled=true" -y
    else
        istioctl install --set "profile=$istio_profile" -y
    fi
fi

if [[ "$ambient" == 1 ]]; then
    if ! kubectl get crd gateways.gateway.networking.k8s.io >/dev/null 2>&1; then
        [[ -n "${GATEWAY_API_CRDS:-}" ]] ||
            die "the Gateway API CRDs are missing: set GATEWAY_API_CRDS to their standard-install.yaml (a Gateway API v1.2+ release asset, file or URL) and run again"
        info "installing the Gateway API CRDs from $GATEWAY_API_CRDS"
        kubectl apply -f "$GATEWAY_API_CRDS"
    fi
    info "namespace $KYC_NAMESPACE joins the ambient data plane (no sidecar injection)"
    kubectl label namespace "$KYC_NAMESPACE" istio-injection- istio.io/dataplane-mode=ambient --overwrite
else
    info "enabling sidecar injection in namespace $KYC_NAMESPACE"
    kubectl label namespace "$KYC_NAMESPACE" istio-injection=enabled --overwrite
fi

info "waiting for the Istio control plane and ingress gateway"
kubectl rollout status deployment/istiod -n istio-system --timeout=300s
if [[ "$ambient" == 1 ]]; then
    kubectl rollout status daemonset/ztunnel -n istio-system --timeout=300s
fi
kubectl rollout status deployment/istio-ingressgateway -n istio-system --timeout=300s

if [[ "$addons" == 1 ]]; then
    info "installing addons from $ISTIO_HOME/samples/addons"
    # The Kiali CRD and its use arrive in one apply; a second pass settles the ordering.
    kubectl apply -f "$ISTIO_HOME/samples/addons" || kubectl apply -f "$ISTIO_HOME/samples/addons"
    info "dashboards: istioctl dashboard kiali | grafana | prometheus | jaeger"
fi

if [[ "$ambient" == 1 ]]; then
    info "ready. Next: scripts/build-images.sh && scripts/deploy.sh, then kubectl apply -f networking/scenarios/ambient.yaml"
else
    info "ready. Next: scripts/build-images.sh && scripts/deploy.sh"
fi
