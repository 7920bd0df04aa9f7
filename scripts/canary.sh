#!/usr/bin/env bash
# Set the /credit-check/report weights (basic vs advanced) on the cluster.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/canary.sh [--print] BASIC ADVANCED
       scripts/canary.sh -h|--help

Sets how /credit-check/report is split between kyc-credit-check-basic (v1) and
kyc-credit-check-advanced (v2). BASIC and ADVANCED are integers 0..100 that sum to 100.
The VirtualService kyc-credit-check is rendered from
networking/kyc-credit-check-istio-routing.yaml with the new weights and applied with
'kubectl apply -f -' (the file itself is not changed; this also undoes any scenario that
replaced that VirtualService).

Examples:
  scripts/canary.sh 100 0    # all basic
  scripts/canary.sh 90 10    # 10 % canary
  scripts/canary.sh 0 100    # promoted

Options:
  --print      print the VirtualService instead of applying it (no cluster needed)
  -h, --help   show this help

Environment:
  KYC_NAMESPACE  namespace (default: default)
USAGE
}

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
basic="${weights[0]}"
advanced="${weights[1]}"
for w in "$basic" "$advanced"; do
    if ! [[ "$w" =~ ^[0-9]{1,3}$ ]] || ((10#$w > 100)); then
        die "weight '$w' is not an integer in 0..100"
    fi
done
basic=$((10#$basic))
advanced=$((10#$advanced))
((basic + advanced == 100)) || die "weights must sum to 100 (got $basic + $advanced = $((basic + advanced)))"

source_file="$KYC_ROOT/networking/kyc-credit-check-istio-routing.yaml"
[[ -f "$source_file" ]] || die "missing $source_file"
count="$(grep -cE '^[[:space:]]*weight:[[:space:]]*[0-9]+[[:space:]]*$' "$source_file" || true)"
[[ "$count" == 2 ]] || die "expected exactly two 'weight:' lines (basic, then advanced) in $source_file, found $count"

rendered="$(awk -v b="$basic" -v a="$advanced" '
    /^[[:space:]]*weight:[[:space:]]*[0-9]+[[:space:]]*$/ {
        n++
        sub(/[0-9]+[[:space:]]*$/, (n == 1 ? b : a))
    }
    { print }
' "$source_file")"

if [[ "$print_only" == 1 ]]; then
    printf '%s\n' "$rendered"
    exit 0
fi

require_tool kubectl
info "setting /credit-check/report weights: basic $basic / advanced $advanced"
printf '%s\n' "$rendered" | kubectl apply -n "$KYC_NAMESPACE" -f -
info "done. Watch the split with: scripts/smoke.sh 100"
