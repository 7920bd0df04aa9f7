#!/usr/bin/env bash
# Load the canary's Grafana dashboard (dashboards/kyc-canary.json) into Istio's Grafana addon.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/dashboards.sh [--port N] [--no-port-forward] [-h|--help]

Loads dashboards/kyc-canary.json (per-version requests/s, success rate, p50/p99 from Istio's
metrics; reports by outcome from the scorers' /metrics) into the Grafana of Istio's addons
(scripts/minikube-up.sh --addons installs them): port-forwards svc/grafana in istio-system to
127.0.0.1:PORT and posts the dashboard to Grafana's HTTP API (the addon allows anonymous admin).
Safe to run again: the dashboard is overwritten. Then: istioctl dashboard grafana.

Options:
  --port N            local port of the port-forward (default 3000)
  --no-port-forward   Grafana already answers on 127.0.0.1:PORT
  -h, --help          show this help
USAGE
}

port=3000
forward=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --port)
        [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--port needs a port number"
        port="$2"
        shift
        ;;
    --no-port-forward) forward=0 ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    shift
done

dashboard="$KYC_ROOT/dashboards/kyc-canary.json"
[[ -f "$dashboard" ]] || die "$dashboard not found"
require_tool curl
grafana="http://127.0.0.1:$port"
if ((forward)); then
    require_tool kubectl
    kubectl -n istio-system get deployment grafana >/dev/null 2>&1 ||
        die "no Grafana in istio-system: install Istio's addons first (scripts/minikube-up.sh --addons)"
    info "port-forward svc/grafana -> $grafana"
    kubectl -n istio-system port-forward svc/grafana "$port:3000" >/dev/null 2>&1 &
    forward_pid=$!
    trap 'kill "$forward_pid" 2>/dev/null || true' EXIT
fi
deadline=$((SECONDS + 30))
until curl -sf -o /dev/null "$grafana/api/health"; do
    ((SECONDS < deadline)) || die "Grafana did not answer on $grafana/api/health within 30 s"
    sleep 0.5
done
printf '{"dashboard": %s, "overwrite": true}' "$(cat "$dashboard")" |
    curl -sf -X POST -H 'content-type: application/json' --data-binary @- "$grafana/api/dashboards/db" >/dev/null ||
    die "Grafana refused the dashboard ($grafana/api/dashboards/db)"
info "dashboard 'KYC canary' loaded: istioctl dashboard grafana, then Dashboards -> KYC canary (uid kyc-canary)"
