#!/usr/bin/env bash
# Property-based API fuzzing with schemathesis against each service's own OpenAPI document: no input
# may produce a 5xx, and every answer must match what the spec documents (status, content type, body
# schema, headers); negative data must be rejected.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: bash tests/api-fuzz/run.sh [-h|--help]

Starts the three debug binaries (target/debug, built by `cargo build --workspace --bins`) on free
loopback ports, with the aggregator behind a small stand-in gateway (gateway.py), and runs
schemathesis against each /api-docs/openapi.json.
Installs schemathesis (pinned in requirements.txt) into tests/api-fuzz/.venv on first use.
Environment: FUZZ_MAX_EXAMPLES (default 60) per operation.
USAGE
}
case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
bin="$root/target/debug"
max_examples="${FUZZ_MAX_EXAMPLES:-60}"

want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/st" || "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" != "$want" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    printf '%s\n' "$want" >"$venv/.requirements.sha256"
fi

for b in kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced; do
    [[ -x "$bin/$b" ]] || {
        echo "error: $bin/$b is missing: run cargo build --workspace --bins" >&2
        exit 1
    }
done

pids=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_ready() {
    local url=$1
    for _ in $(seq 1 200); do
        curl -fs -o /dev/null "$url/readyz" && return 0
        sleep 0.05
    done
    echo "error: $url did not become ready" >&2
    return 1
}

start() {
    local name=$1 port=$2
    shift 2
    env KYC_HOST=127.0.0.1 KYC_PORT="$port" KYC_LOG_LEVEL=warn "$@" "$bin/$name" >/dev/null &
    pids+=("$!")
    wait_ready "http://127.0.0.1:$port"
}

basic=$(free_port)
advanced=$(free_port)
aggregator=$(free_port)
gateway=$(free_port)
start kyc-credit-check-basic "$basic"
start kyc-credit-check-advanced "$advanced"
python3 "$here/gateway.py" "$gateway" "$basic" "$advanced" &
pids+=("$!")
start kyc-aggregator-mgt "$aggregator" KYC_GATEWAY_URL="http://127.0.0.1:$gateway"

status=0
for port in "$aggregator" "$basic" "$advanced"; do
    echo "== schemathesis: http://127.0.0.1:$port/api-docs/openapi.json"
    "$venv/bin/st" run "http://127.0.0.1:$port/api-docs/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
        --max-examples "$max_examples" --no-color || status=1
done
exit "$status"
