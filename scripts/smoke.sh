#!/usr/bin/env bash
# Call the KYC API N times through the ingress gateway and draw which scorer answered.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/smoke.sh [N] [-h|--help]

Calls GET \$GATEWAY/kyc/v1/customer?type=\$KYC_TYPE N times (default 20), one at a time, and draws
which scorer answered as a bar chart: \`kyc-mesh split --url\` does it (the servedBy.service of the
body, else the x-kyc-scored-by header). Exits non-zero if any call fails.

Environment:
  GATEWAY         base URL of the ingress gateway, e.g. http://127.0.0.1 (default: found with
                  kubectl + minikube: the LoadBalancer IP under 'minikube tunnel', else the NodePort)
  KYC_TYPE        report | basicReport | advancedReport (default: report, the 50/50 route)
  KYC_TOKEN       a bearer token every call carries (the jwt-auth scenario:
                  KYC_TOKEN=\$(target/release/kyc-mesh token)); unset, and GATEWAY unset too, when
                  the cluster has jwt-auth's RequestAuthentication a demo token is made with kyc-mesh
  SMOKE_TIMEOUT   seconds per call (default: 10)
  KYC_MESH        the kyc-mesh binary (default: target/release/kyc-mesh, target/debug/kyc-mesh,
                  then PATH; built with cargo when none is found)
  MINIKUBE_PROFILE  minikube profile (default: minikube)
USAGE
}

n=20
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    -*)
        usage >&2
        die "unknown option: $1"
        ;;
    *) n="$1" ;;
    esac
    shift
done
if ! [[ "$n" =~ ^[0-9]+$ ]] || ((10#$n < 1 || 10#$n > 10000)); then
    die "N must be an integer in 1..10000 (got '$n')"
fi
n=$((10#$n))
kyc_type="${KYC_TYPE:-report}"
[[ "$kyc_type" =~ ^[A-Za-z]+$ ]] || die "KYC_TYPE must be a word (got '$kyc_type')"

timeout="${SMOKE_TIMEOUT:-10}"
if ! [[ "$timeout" =~ ^[0-9]+$ ]] || ((10#$timeout == 0)); then
    die "SMOKE_TIMEOUT must be a whole number of seconds (got '$timeout')"
fi
gateway="${GATEWAY:-}"
if [[ -z "$gateway" ]]; then
    require_tool kubectl minikube
    gateway="$(gateway_url)" ||
        die "cannot find the ingress gateway address: set GATEWAY=http://HOST[:PORT] (see scripts/deploy.sh output)"
fi
gateway="${gateway%/}"
[[ "$gateway" == http://* || "$gateway" == https://* ]] || gateway="http://$gateway"
url="$gateway/kyc/v1/customer?type=$kyc_type"
mesh="$(kyc_mesh_bin)"

# End-user authentication (networking/scenarios/jwt-auth.yaml): a token with every call.
token="${KYC_TOKEN:-}"
if [[ -z "$token" && -z "${GATEWAY:-}" ]] &&
    [[ -n "$(kubectl get requestauthentication kyc-aggregator-mgt-jwt -n "$KYC_NAMESPACE" -o name 2>/dev/null || true)" ]]; then
    token="$("$mesh" token --sub smoke-test)" || die "$mesh token failed"
    info "the cluster verifies end-user tokens (jwt-auth): the calls carry a demo token"
fi
auth=()
[[ -z "$token" ]] || auth=(--token "$token")

info "$n calls to $url"
code=0
"$mesh" split "$n" --url "$url" --concurrency 1 --timeout "$((10#$timeout))s" ${auth[@]+"${auth[@]}"} || code=$?
case "$code" in
0) info "all $n calls succeeded" ;;
1) die "some of the $n calls failed (see the chart)" ;;
*) exit "$code" ;;
esac
