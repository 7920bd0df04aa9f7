#!/usr/bin/env bash
# Build the three service images (into minikube's Docker by default, no registry needed).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/build-images.sh [SERVICE...] [-h|--help]

Builds docker/Dockerfile once per service (--build-arg SERVICE=<crate>); the image name is
the crate name and the tag is \$TAG (default $KYC_DEFAULT_TAG, the tag networking/ uses).

Default: the images are built inside minikube's Docker daemon ('minikube docker-env'), so
the cluster sees them at once and nothing is pushed (imagePullPolicy: IfNotPresent).
With REGISTRY set, the images are tagged REGISTRY/<crate>:TAG and pushed instead.
With PLATFORMS set (needs REGISTRY), 'docker buildx' builds and pushes a multi-arch image.

Arguments:
  SERVICE      any of: ${KYC_SERVICES[*]} (default: all three)

Environment:
  TAG              image tag (default: $KYC_DEFAULT_TAG)
  REGISTRY         registry/namespace to push to, e.g. ghcr.io/me (default: none)
  PLATFORMS        e.g. linux/amd64,linux/arm64 (multi-arch; requires REGISTRY)
  MINIKUBE_PROFILE minikube profile whose Docker is used when REGISTRY is unset (default: minikube)
  USE_MINIKUBE_DOCKER=0  build with the local Docker even without REGISTRY
USAGE
}

services=()
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

require_tool docker
if [[ -z "$registry" && "${USE_MINIKUBE_DOCKER:-1}" == 1 ]]; then
    require_tool minikube
    info "using the Docker daemon of minikube profile '$MINIKUBE_PROFILE'"
    docker_env="$(minikube -p "$MINIKUBE_PROFILE" docker-env --shell bash)" ||
        die "'minikube docker-env' failed: is minikube running? (scripts/minikube-up.sh)"
    eval "$docker_env"
fi

version="${TAG:-$KYC_DEFAULT_TAG}"
revision="$(git -C "$KYC_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

for service in "${services[@]}"; do
    image="$(image_ref "$service")"
    build_args=(--file "$KYC_ROOT/docker/Dockerfile"
        --build-arg "SERVICE=$service"
        --build-arg "VERSION=$version"
        --build-arg "REVISION=$revision"
        --tag "$image")
    if [[ -n "$platforms" ]]; then
        info "building and pushing $image for $platforms"
        docker buildx build --platform "$platforms" "${build_args[@]}" --push "$KYC_ROOT"
    else
        info "building $image"
        docker build "${build_args[@]}" "$KYC_ROOT"
        if [[ -n "$registry" ]]; then
            info "pushing $image"
            docker push "$image"
        fi
    fi
done

info "built: $(for s in "${services[@]}"; do printf '%s ' "$(image_ref "$s")"; done)"
if [[ -n "$registry" || -n "${TAG:-}" ]]; then
    info "deploy with the same settings: REGISTRY='$registry' TAG='$version' scripts/deploy.sh"
else
    info "next: scripts/deploy.sh"
fi
