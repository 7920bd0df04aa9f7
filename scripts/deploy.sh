#!/usr/bin/env bash
# Apply networking/ (the 50/50 canary) and wait for the rollouts.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/deploy.sh [--digests FILE] [-h|--help]

Runs 'kubectl apply -f networking/' (only the top-level files; networking/scenarios/ is not
applied), waits for the three Deployments to roll out and prints how to reach the ingress
gateway. Safe to run again.

With REGISTRY and/or TAG set, the image references are rewritten in a temporary copy
(REGISTRY/<crate>:TAG); the files in networking/ stay untouched.
With --digests FILE (written by REGISTRY=... scripts/build-images.sh: lines '<crate> <image>@sha256:...'),
each Deployment runs exactly the pushed image, by digest (a temporary copy too).

Environment:
  REGISTRY          registry prefix used by build-images.sh (default: none)
  TAG               image tag (default: $KYC_DEFAULT_TAG)
  KYC_NAMESPACE     target namespace (default: default)
  ROLLOUT_TIMEOUT   per-Deployment wait (default: 180s)
  MINIKUBE_PROFILE  minikube profile, for the NodePort address (default: minikube)
USAGE
}

digests=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --digests)
        [[ $# -ge 2 && -n "$2" ]] || die "--digests needs a file (see --help)"
        digests="$2"
        shift 2
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
done

# digest_sed FILE : sed expressions pinning each crate's image to its digest (input checked).
digest_sed() {
    local crate ref rest n=0 expr=""
    [[ -r "$1" ]] || die "--digests $1: not a readable file"
    while read -r crate ref rest || [[ -n "$crate" ]]; do
        [[ -z "$crate" || "$crate" == \#* ]] && continue
        case " ${KYC_SERVICES[*]} " in
        *" $crate "*) ;;
        *) die "--digests $1: unknown service '$crate'" ;;
        esac
        [[ -z "$rest" && "$ref" =~ ^[A-Za-z0-9._:/-]+@sha256:[0-9a-f]{64}$ ]] ||
            die "--digests $1: '$crate $ref' is not '<crate> <image>@sha256:<64 hex>'"
        expr+="s#^([[:space:]]*image:[[:space:]]*)${crate}:[^[:space:]]+#\\1${ref}#;"
        n=$((n + 1))
    done <"$1"
    [[ $n -eq ${#KYC_SERVICES[@]} ]] || die "--digests $1: expected a digest for each of ${KYC_SERVICES[*]}, found $n"
    printf '%s' "$expr"
}
pin=""
[[ -z "$digests" ]] || pin="$(digest_sed "$digests")"

require_tool kubectl

registry="${REGISTRY:-}"
tag="${TAG:-}"
[[ "$registry" =~ ^[A-Za-z0-9._:/-]*$ ]] || die "REGISTRY contains unexpected characters: $registry"
[[ "$tag" =~ ^[A-Za-z0-9._-]*$ ]] || die "TAG contains unexpected characters: $tag"

kubectl get crd virtualservices.networking.istio.io >/dev/null 2>&1 ||
    die "Istio's CRDs are not installed in the current cluster: run scripts/minikube-up.sh first"

injection="$(kubectl get namespace "$KYC_NAMESPACE" -o jsonpath='{.metadata.labels.istio-injection}' 2>/dev/null || true)"
if [[ "$injection" != enabled ]]; then
    warn "namespace $KYC_NAMESPACE is not labelled istio-injection=enabled: pods get no sidecar and the"
    warn "mesh routing will not apply. Fix: kubectl label namespace $KYC_NAMESPACE istio-injection=enabled"
fi

manifests="$KYC_ROOT/networking"
if [[ -n "$pin" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    for f in "$manifests"/*.yaml "$manifests"/*.yml; do
        [[ -e "$f" ]] || continue
        sed -E "$pin" "$f" >"$tmp/$(basename "$f")"
    done
    info "images pinned by digest in a temporary copy: $(grep -ho 'image: .*' "$tmp"/* | sed 's/image: //' | sort -u | tr '\n' ' ')"
    manifests="$tmp"
elif [[ -n "$registry" || -n "$tag" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    prefix="${registry%/}"
    prefix="${prefix:+$prefix/}"
    for f in "$manifests"/*.yaml "$manifests"/*.yml; do
        [[ -e "$f" ]] || continue
        sed -E "s#^([[:space:]]*image:[[:space:]]*)(kyc-[a-z-]+):[^[:space:]]+#\\1${prefix}\\2:${tag:-$KYC_DEFAULT_TAG}#" \
            "$f" >"$tmp/$(basename "$f")"
    done
    info "images rewritten in a temporary copy: $(grep -ho 'image: .*' "$tmp"/* | sed 's/image: //' | sort -u | tr '\n' ' ')"
    manifests="$tmp"
fi

info "applying $manifests to namespace $KYC_NAMESPACE"
kubectl apply -n "$KYC_NAMESPACE" -f "$manifests"

for service in "${KYC_SERVICES[@]}"; do
    info "waiting for deployment/$service"
    kubectl rollout status "deployment/$service" -n "$KYC_NAMESPACE" --timeout="${ROLLOUT_TIMEOUT:-180s}"
done

url="$(gateway_url || true)"
cat <<EOT

The KYC API is behind the Istio ingress gateway (Service istio-ingressgateway, port 80).
Address found now: ${url:-none (no tunnel running and no NodePort found)}
Reaching it from this machine:
  * 'minikube tunnel' in another terminal (keep it open; it may ask for sudo to bind port 80)
    gives the gateway an external IP: http://127.0.0.1 on macOS/Windows, else the EXTERNAL-IP of
    'kubectl -n istio-system get svc istio-ingressgateway'.
  * Without the tunnel, on Linux, the NodePort works: http://\$(minikube ip):<nodePort of port 80>
  * Pitfall: with the docker driver on macOS/Windows the minikube IP is not routable from the
    host, so the NodePort URL just hangs: use the tunnel (or
    'minikube service istio-ingressgateway -n istio-system --url', which opens its own).

Try it:
  export GATEWAY=${url:-http://127.0.0.1}
  curl -s "\$GATEWAY/kyc/v1/customer?type=report"
  scripts/smoke.sh 50          # draws the basic/advanced split
  scripts/canary.sh 90 10      # moves it
EOT
