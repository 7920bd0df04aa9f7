#!/usr/bin/env bash
# Call the KYC API N times through the ingress gateway and draw which scorer answered.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/smoke.sh [N] [-h|--help]

Calls GET \$GATEWAY/kyc/v1/customer?type=\$KYC_TYPE N times (default 20), reads which scorer
answered (the x-kyc-scored-by header, else servedBy.service in the body) and draws the split
as a bar chart. Exits non-zero if any call fails.

Environment:
  GATEWAY         base URL of the ingress gateway, e.g. http://127.0.0.1 (default: found with
                  kubectl + minikube: the LoadBalancer IP under 'minikube tunnel', else the NodePort)
  KYC_TYPE        report | basicReport | advancedReport (default: report, the 50/50 route)
  KYC_TOKEN       a bearer token every call carries (the jwt-auth scenario:
                  KYC_TOKEN=\$(target/release/kyc-mesh token)); unset, and GATEWAY unset too, when
                  the cluster has jwt-auth's RequestAuthentication a demo token is made with kyc-mesh
  KYC_MESH        the kyc-mesh binary for that (default: kyc-mesh on PATH, else target/release/kyc-mesh)
  SMOKE_TIMEOUT   seconds per call (default: 10)
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

require_tool curl
gateway="${GATEWAY:-}"
if [[ -z "$gateway" ]]; then
    require_tool kubectl minikube
    gateway="$(gateway_url)" ||
        die "cannot find the ingress gateway address: set GATEWAY=http://HOST[:PORT] (see scripts/deploy.sh output)"
fi
gateway="${gateway%/}"
[[ "$gateway" == http://* || "$gateway" == https://* ]] || gateway="http://$gateway"
url="$gateway/kyc/v1/customer?type=$kyc_type"

# End-user authentication (networking/scenarios/jwt-auth.yaml): a token with every call.
token="${KYC_TOKEN:-}"
if [[ -z "$token" && -z "${GATEWAY:-}" ]] &&
    [[ -n "$(kubectl get requestauthentication kyc-aggregator-mgt-jwt -n "$KYC_NAMESPACE" -o name 2>/dev/null || true)" ]]; then
    kyc_mesh="${KYC_MESH:-$(command -v kyc-mesh || echo "$KYC_ROOT/target/release/kyc-mesh")}"
    [[ -x "$kyc_mesh" ]] ||
        die "the cluster verifies end-user tokens (jwt-auth): set KYC_TOKEN=\$(target/release/kyc-mesh token) or build kyc-mesh (cargo build --release -p kyc-mesh)"
    token="$("$kyc_mesh" token --sub smoke-test)" || die "$kyc_mesh token failed"
    info "the cluster verifies end-user tokens (jwt-auth): the calls carry a demo token"
fi
auth=()
[[ -z "$token" ]] || auth=(-H "Authorization: Bearer $token")

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
declare -A counts=()
errors=0
info "$n calls to $url"
for ((i = 1; i <= n; i++)); do
    code="$(curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "${auth[@]}" \
        --max-time "${SMOKE_TIMEOUT:-10}" "$url" 2>"$tmp/err")" || code="000"
    if [[ "$code" != 2* ]]; then
        errors=$((errors + 1))
        if ((errors <= 3)); then
            warn "call $i: HTTP $code $(head -c 200 "$tmp/body" 2>/dev/null || true)$(cat "$tmp/err")"
        fi
        continue
    fi
    who="$(tr -d '\r' <"$tmp/headers" | awk -F': *' 'tolower($1) == "x-kyc-scored-by" { print $2; exit }')"
    who="${who%/*}" # drop the instance: service/version
    if [[ -z "$who" ]]; then
        who="$(grep -o '"service" *: *"[^"]*"' "$tmp/body" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/' || true)"
    fi
    who="${who:-unknown}"
    counts["$who"]=$((${counts["$who"]:-0} + 1))
done

printf '\n%-34s %6s %5s\n' "answered by" "calls" "share"
width=40
for who in $(printf '%s\n' "${!counts[@]}" | sort); do
    c="${counts[$who]}"
    bar="$(printf '%*s' $((c * width / n)) '' | tr ' ' '#')"
    printf '%-34s %6d %4d%%  %s\n' "$who" "$c" $((c * 100 / n)) "$bar"
done
if ((errors > 0)); then
    bar="$(printf '%*s' $((errors * width / n)) '' | tr ' ' 'x')"
    printf '%-34s %6d %4d%%  %s\n' "errors" "$errors" $((errors * 100 / n)) "$bar"
    die "$errors of $n calls failed"
fi
info "all $n calls succeeded"
