#!/usr/bin/env bash
# Remove the KYC demo from the cluster; optionally Istio and the minikube cluster too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/teardown.sh [--istio] [--cluster] [-h|--help]

Deletes everything networking/ created (and what the scenarios may have added: the
PeerAuthentication/AuthorizationPolicies of mtls-strict.yaml and the Gateway API objects of
gateway-api.yaml). Safe to run again: missing objects are ignored.

Options:
  --istio      also uninstall Istio (istioctl uninstall --purge) and remove the namespace label
  --cluster    also delete the minikube cluster (minikube delete); implies nothing else is needed
  -h, --help   show this help

Environment:
  KYC_NAMESPACE     namespace (default: default)
  MINIKUBE_PROFILE  minikube profile (default: minikube)
USAGE
}

remove_istio=0
remove_cluster=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --istio) remove_istio=1 ;;
    --cluster) remove_cluster=1 ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    shift
done

if [[ "$remove_cluster" == 1 ]]; then
    require_tool minikube
    info "deleting minikube profile '$MINIKUBE_PROFILE' (the demo and Istio go with it)"
    minikube delete -p "$MINIKUBE_PROFILE"
    exit 0
fi

require_tool kubectl
[[ "$remove_istio" == 1 ]] && require_tool istioctl

info "deleting the KYC demo from namespace $KYC_NAMESPACE"
if kubectl get crd virtualservices.networking.istio.io >/dev/null 2>&1; then
    kubectl delete -n "$KYC_NAMESPACE" -f "$KYC_ROOT/networking" --ignore-not-found
else
    # Without Istio's CRDs kubectl cannot even parse the Istio objects: delete the rest.
    warn "Istio's CRDs are not installed: deleting only the Kubernetes objects"
    for f in "$KYC_ROOT"/networking/*-k8-istio.yml; do
        kubectl delete -n "$KYC_NAMESPACE" -f "$f" --ignore-not-found
    done
fi
if kubectl get crd peerauthentications.security.istio.io >/dev/null 2>&1; then
    kubectl delete -n "$KYC_NAMESPACE" -f "$KYC_ROOT/networking/scenarios/mtls-strict.yaml" --ignore-not-found
fi
if kubectl get crd httproutes.gateway.networking.k8s.io >/dev/null 2>&1; then
    kubectl delete -n "$KYC_NAMESPACE" -f "$KYC_ROOT/networking/scenarios/gateway-api.yaml" --ignore-not-found
fi

if [[ "$remove_istio" == 1 ]]; then
    info "uninstalling Istio"
    istioctl uninstall --purge -y
    kubectl delete namespace istio-system --ignore-not-found
    kubectl label namespace "$KYC_NAMESPACE" istio-injection- 2>/dev/null || true
fi
info "done"
