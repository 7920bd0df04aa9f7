#!/usr/bin/env bash
# Build the three service images (into minikube's Docker by default, no registry needed).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/build-images.sh [--offline] [SERVICE...] [-h|--help]

Builds docker/Dockerfile's target <crate> for each service (one compile: the second and third
image come from the build cache); the image name is the crate name and the tag is \$TAG
(default $KYC_DEFAULT_TAG, the tag networking/ uses).

Default: the images are built inside minikube's Docker daemon ('minikube docker-env'), so
the cluster sees them at once and nothing is pushed (imagePullPolicy: IfNotPresent).
With REGISTRY set, the images are tagged REGISTRY/<crate>:TAG and pushed instead, and their
digests are written to target/images.digests (scripts/deploy.sh --digests deploys them).
With PLATFORMS set (needs REGISTRY), 'docker buildx' builds and pushes a multi-arch image.

Options:
  --offline    air-gapped: the local Docker (no minikube), the local base images of
               scripts/base-images.sh (made first when missing), the crates vendored into
               vendor/crates/ by 'cargo vendor --locked', and 'docker build --network none'
Arguments:
  SERVICE      any of: ${KYC_SERVICES[*]} (default: all three)

Environment:
  TAG              image tag (default: $KYC_DEFAULT_TAG)
  REGISTRY         registry/namespace to push to, e.g. ghcr.io/me or 127.0.0.1:5000 (default: none)
  PLATFORMS        e.g. linux/amd64,linux/arm64 (multi-arch; requires REGISTRY and buildx)
  PROXY_CA         PEM file of a TLS-intercepting proxy's CA, trusted by the build stage (online)
  BUILDER_IMAGE, RUNTIME_IMAGE   base images (defaults: the Dockerfile's upstream ones, or
                   $KYC_LOCAL_BUILDER and $KYC_LOCAL_RUNTIME with --offline)
  MINIKUBE_PROFILE minikube profile whose Docker is used when REGISTRY is unset (default: minikube)
  USE_MINIKUBE_DOCKER=0  build with the local Docker even without REGISTRY
  DOCKER_BUILDKIT  1 = BuildKit, 0 = the legacy builder (the Dockerfile works with both)
  KYC_DIGESTS_FILE where the pushed digests go (default: target/images.digests)
USAGE
}

services=()
offline=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --offline) offline=1 ;;
    -*)
        usage >&2
        die "unknown option: $1"
        ;;
    *)
        case " ${KYC_SERVICES[*]} " in
        *" $1 "*) services+=("$1") ;;
        *) die "unknown service '$1' (expected one of: ${KYC_SERVICES[*]})" ;;
        esac
        ;;
    esac
    shift
done
[[ ${#services[@]} -gt 0 ]] || services=("${KYC_SERVICES[@]}")

registry="${REGISTRY:-}"
platforms="${PLATFORMS:-}"
[[ -z "$platforms" || -n "$registry" ]] || die "PLATFORMS needs REGISTRY: a multi-arch image can only be pushed, not loaded into minikube"

[[ -z "$platforms" || $offline == 0 ]] || die "PLATFORMS and --offline do not mix: the local base images are for this machine's architecture only"
proxy_ca="${PROXY_CA:-}"
[[ -z "$proxy_ca" || -r "$proxy_ca" ]] || die "PROXY_CA=$proxy_ca is not a readable file"

require_tool docker
builder_image="${BUILDER_IMAGE:-}"
runtime_image="${RUNTIME_IMAGE:-}"
if [[ $offline == 1 ]]; then
    builder_image="${builder_image:-$KYC_LOCAL_BUILDER}"
    runtime_image="${runtime_image:-$KYC_LOCAL_RUNTIME}"
    missing=()
    docker image inspect "$builder_image" >/dev/null 2>&1 || missing+=(builder)
    docker image inspect "$runtime_image" >/dev/null 2>&1 || missing+=(runtime)
    if [[ ${#missing[@]} -gt 0 ]]; then
        [[ "$builder_image" == "$KYC_LOCAL_BUILDER" && "$runtime_image" == "$KYC_LOCAL_RUNTIME" ]] ||
            die "base image(s) missing: $builder_image / $runtime_image"
        info "making the local base images first: scripts/base-images.sh ${missing[*]}"
        "$KYC_ROOT/scripts/base-images.sh" "${missing[@]}"
    fi
    if command -v cargo >/dev/null 2>&1; then
        info "vendoring the crates of Cargo.lock into vendor/crates/ (cargo vendor --locked)"
        (cd "$KYC_ROOT" && cargo vendor --locked --quiet vendor/crates >/dev/null)
    elif ! compgen -G "$KYC_ROOT/vendor/crates/*/Cargo.toml" >/dev/null; then
        die "--offline needs the crates in vendor/crates/: install cargo (https://rustup.rs) or copy one made by 'cargo vendor --locked vendor/crates'"
    fi
fi
if [[ $offline == 0 && -z "$registry" && "${USE_MINIKUBE_DOCKER:-1}" == 1 ]]; then
    require_tool minikube
    info "using the Docker daemon of minikube profile '$MINIKUBE_PROFILE'"
    docker_env="$(minikube -p "$MINIKUBE_PROFILE" docker-env --shell bash)" ||
        die "'minikube docker-env' failed: is minikube running? (scripts/minikube-up.sh)"
    eval "$docker_env"
fi

version="${TAG:-$KYC_DEFAULT_TAG}"
revision="$(git -C "$KYC_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

common_args=(--file "$KYC_ROOT/docker/Dockerfile"
    --build-arg "VERSION=$version"
    --build-arg "REVISION=$revision")
[[ -z "$builder_image" ]] || common_args+=(--build-arg "BUILDER_IMAGE=$builder_image")
[[ -z "$runtime_image" ]] || common_args+=(--build-arg "RUNTIME_IMAGE=$runtime_image")
[[ -z "$proxy_ca" ]] || common_args+=(--build-arg "PROXY_CA=$(cat "$proxy_ca")")
[[ $offline == 0 ]] || common_args+=(--network none)

digests_file="${KYC_DIGESTS_FILE:-$KYC_ROOT/target/images.digests}"
[[ -z "$registry" ]] || { mkdir -p "$(dirname "$digests_file")" && : >"$digests_file"; }
for service in "${services[@]}"; do
    image="$(image_ref "$service")"
    build_args=("${common_args[@]}" --target "$service" --tag "$image")
    if [[ -n "$platforms" ]]; then
        info "building and pushing $image for $platforms"
        docker buildx build --platform "$platforms" "${build_args[@]}" --push "$KYC_ROOT"
    else
        info "building $image"
        docker build "${build_args[@]}" "$KYC_ROOT"
        if [[ -n "$registry" ]]; then
            info "pushing $image"
            docker push "$image"
            digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$image" |
                grep -F "${image%:*}@" | head -n1 || true)"
            [[ -n "$digest" ]] || die "no digest for $image after the push"
            printf '%s %s\n' "$service" "$digest" >>"$digests_file"
            info "pushed $digest"
        fi
    fi
done

info "built: $(for s in "${services[@]}"; do printf '%s ' "$(image_ref "$s")"; done)"
if [[ -n "$registry" && -z "$platforms" ]]; then
    info "digests in ${digests_file#"$KYC_ROOT"/}: deploy exactly these with scripts/deploy.sh --digests ${digests_file#"$KYC_ROOT"/}"
elif [[ -n "$registry" || -n "${TAG:-}" ]]; then
    info "deploy with the same settings: REGISTRY='$registry' TAG='$version' scripts/deploy.sh"
else
    info "next: scripts/deploy.sh"
fi
