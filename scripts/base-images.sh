#!/usr/bin/env bash
# Make local base images from Debian 12 packages, for machines that cannot pull from Docker Hub or gcr.io.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<USAGE
Usage: scripts/base-images.sh [--force] [IMAGE...] [-h|--help]

Makes the base images of docker/Dockerfile and docker/compose.yaml from Debian 12 (bookworm)
packages with mmdebstrap, for machines that cannot pull from Docker Hub or gcr.io. They get
local names, never the upstream ones:

  runtime  $KYC_LOCAL_RUNTIME     stands for gcr.io/distroless/static-debian12:nonroot: CA roots,
                                     tzdata, /etc/passwd with nonroot (65532), no shell, no libc
                                     (the services are linked statically)
  cc       $KYC_LOCAL_CC         stands for gcr.io/distroless/cc-debian12:nonroot: the same plus
                                     glibc and libgcc (for dynamically linked programs: Envoy)
  builder  $KYC_LOCAL_BUILDER  stands for rust:$KYC_RUST_VERSION-slim-bookworm: Debian 12 with gcc and
                                     libc6-dev, this machine's Rust $KYC_RUST_VERSION toolchain (rustc --print
                                     sysroot), cargo-chef and cargo-cyclonedx (built here with cargo install)
  envoy    kyc-local/envoy:<version>    stands for envoyproxy/envoy: the pinned Envoy that
                                     scripts/run-local.sh --print-envoy installs, on the cc image

An image that exists already is kept (--force makes it again). IMAGE is any of
runtime, cc, builder, envoy (default: all four). Prints the names at the end.

Needs: root (or sudo) for mmdebstrap and the files' owners, mmdebstrap, docker, a Debian
mirror (the host's apt sources; KYC_DEBIAN_MIRROR overrides), and for the builder: rustup
or rustc $KYC_RUST_VERSION, cargo and crates.io (the tools are cached in $KYC_TOOLS_HOME).
Nothing of the host's own CA store goes into an image: the roots are Debian's Mozilla bundle.
USAGE
}

force=0
wanted=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --force) force=1 ;;
    runtime | cc | builder | envoy) wanted+=("$1") ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    shift
done
[[ ${#wanted[@]} -gt 0 ]] || wanted=(runtime cc builder envoy)

require_tool docker mmdebstrap
[[ $(id -u) -eq 0 ]] || die "run as root (e.g. sudo -E scripts/base-images.sh): mmdebstrap and the owners of the image's files need it"

suite=bookworm
mirror="${KYC_DEBIAN_MIRROR:-}"
arch="$(dpkg --print-architecture)"
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")"
work="$(mktemp -d "${TMPDIR:-/tmp}/kyc-base-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

have_image() { [[ $force -eq 0 ]] && docker image inspect "$1" >/dev/null 2>&1; }

# debs PKG... : download PKG and their dependencies (mmdebstrap --variant=extract keeps the .debs)
# into $work/debs; prints nothing. Only the named packages go into an image.
debs() {
    rm -rf "$work/extract" "$work/debs"
    # shellcheck disable=SC2086 # $mirror is empty (host's sources) or one URL
    mmdebstrap --quiet --variant=extract --architectures="$arch" --include="$(
        IFS=,
        echo "$*"
    )" --skip=cleanup/apt/cache "$suite" "$work/extract" $mirror >&2
    mkdir -p "$work/debs"
    mv "$work/extract/var/cache/apt/archives/"*.deb "$work/debs/"
    rm -rf "$work/extract"
}

# unpack PKG DIR : the files of package PKG (from $work/debs) into DIR/PKG.
unpack() {
    local deb
    deb="$(find "$work/debs" -name "${1}_*.deb" | head -n1)"
    [[ -n "$deb" ]] || die "package $1 was not downloaded"
    mkdir -p "$2/$1"
    dpkg-deb -x "$deb" "$2/$1"
    # What dpkg would record: vulnerability scanners read /var/lib/dpkg/status.d/ (as in distroless).
    { dpkg-deb -f "$deb" && echo "Status: install ok installed"; } >"$2/$1.status"
}

# runtime_tree DIR WITH_LIBC : the distroless-like file tree into DIR.
runtime_tree() {
    local root="$1" with_libc="$2" pkgs=(base-files netbase tzdata ca-certificates) p
    [[ $with_libc == 1 ]] && pkgs+=(libc6 libgcc-s1)
    debs "${pkgs[@]}"
    local unpacked="$work/unpacked"
    rm -rf "$unpacked" "$root"
    for p in "${pkgs[@]}"; do unpack "$p" "$unpacked"; done
    mkdir -p "$root"/{etc/ssl/certs,usr/lib,usr/share/zoneinfo,var/lib/dpkg/status.d,tmp,root,home/nonroot}
    chmod 1777 "$root/tmp"
    chmod 0700 "$root/root" "$root/home/nonroot"
    for p in "${pkgs[@]}"; do
        cp "$unpacked/$p.status" "$root/var/lib/dpkg/status.d/$p"
        # the licences travel with the files (GPL/LGPL for glibc)
        if [[ -f "$unpacked/$p/usr/share/doc/$p/copyright" ]]; then
            install -D -m 0644 "$unpacked/$p/usr/share/doc/$p/copyright" "$root/usr/share/doc/$p/copyright"
        fi
    done
    # base-files: os-release; netbase: services/protocols; tzdata: the zone files
    cp "$unpacked/base-files/usr/lib/os-release" "$root/usr/lib/os-release"
    ln -s ../usr/lib/os-release "$root/etc/os-release"
    cp "$unpacked/netbase/etc/services" "$unpacked/netbase/etc/protocols" "$root/etc/"
    cp -a "$unpacked/tzdata/usr/share/zoneinfo/." "$root/usr/share/zoneinfo/"
    # ca-certificates: the bundle update-ca-certificates would write, from Debian's Mozilla roots only
    find "$unpacked/ca-certificates/usr/share/ca-certificates/mozilla" -name '*.crt' -print0 | sort -z |
        xargs -0 cat >"$root/etc/ssl/certs/ca-certificates.crt"
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
    printf 'passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' \
        >"$root/etc/nsswitch.conf"
    if [[ $with_libc == 1 ]]; then
        # the shared libraries and the loader; no gconv modules, locales or tools
        local d
        for p in libc6 libgcc-s1; do
            for d in lib lib64 usr/lib; do
                [[ -d "$unpacked/$p/$d" ]] || continue
                (cd "$unpacked/$p" && find "$d" \( -name '*.so*' -o -name 'ld-linux*' \) ! -path '*/gconv/*' -print0 |
                    xargs -0 -r cp -a --parents -t "$root")
            done
        done
        [[ -e "$root/lib/$multiarch/libc.so.6" ]] || die "libc.so.6 not found in libc6 for $multiarch"
    fi
    chown -R 0:0 "$root"
    chown 65532:65532 "$root/home/nonroot"
}

# import_tree DIR IMAGE DESCRIPTION BASE_NAME : docker import with distroless' settings.
import_tree() {
    tar --numeric-owner -C "$1" -c . | docker import \
        --change 'USER 65532:65532' \
        --change 'WORKDIR /home/nonroot' \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change "LABEL org.opencontainers.image.title=$2 org.opencontainers.image.description=\"$3\" io.github.banknext.kyc.stands-for=$4" \
        - "$2" >/dev/null
    info "made $2 ($(docker image inspect --format '{{.Size}}' "$2" | awk '{printf "%.1f MB", $1 / 1e6}'))"
}

make_runtime() {
    have_image "$KYC_LOCAL_RUNTIME" && {
        info "$KYC_LOCAL_RUNTIME exists (--force to make it again)"
        return 0
    }
    runtime_tree "$work/runtime" 0
    import_tree "$work/runtime" "$KYC_LOCAL_RUNTIME" \
        "Debian 12 CA roots, tzdata and a nonroot user, no shell, no libc (for static binaries)" \
        gcr.io/distroless/static-debian12:nonroot
}

make_cc() {
    have_image "$KYC_LOCAL_CC" && {
        info "$KYC_LOCAL_CC exists (--force to make it again)"
        return 0
    }
    runtime_tree "$work/cc" 1
    import_tree "$work/cc" "$KYC_LOCAL_CC" \
        "Debian 12 glibc, libgcc, CA roots, tzdata and a nonroot user, no shell" \
        gcr.io/distroless/cc-debian12:nonroot
}

dockerfile_arg() { sed -n "s/^ARG $1=//p" "$KYC_ROOT/docker/Dockerfile" | head -n1; }

# rust_sysroot : the sysroot of this machine's Rust $KYC_RUST_VERSION toolchain.
rust_sysroot() {
    if command -v rustc >/dev/null && [[ "$(rustc --version)" == "rustc $KYC_RUST_VERSION."* ]]; then
        rustc --print sysroot
        return 0
    fi
    require_tool rustup
    local tc
    tc="$(rustup toolchain list | awk '{print $1}' | grep -E "^${KYC_RUST_VERSION//./\\.}(\.[0-9]+)?-" | head -n1 || true)"
    if [[ -z "$tc" ]]; then
        info "installing Rust $KYC_RUST_VERSION (rustup toolchain install --profile minimal)"
        rustup toolchain install "$KYC_RUST_VERSION" --profile minimal >&2
        tc="$KYC_RUST_VERSION"
    fi
    rustup run "$tc" rustc --print sysroot
}

# tool NAME VERSION : path of a statically linked NAME (cargo install, cached in KYC_TOOLS_HOME).
# A debug build: half the build time of a release one, and both tools only drive cargo.
tool() {
    local dir="$KYC_TOOLS_HOME/$1-$2" triple
    if [[ ! -x "$dir/bin/$1" ]]; then
        require_tool cargo
        triple="$(uname -m)-unknown-linux-gnu"
        info "building $1 $2 (cargo install --locked --debug, static) into $dir" >&2
        local env_name
        env_name="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
        env "$env_name=-C target-feature=+crt-static" CARGO_TARGET_DIR="$KYC_TOOLS_HOME/target" \
            cargo install --quiet --locked --debug --root "$dir" --target "$triple" "$1" --version "$2" >&2
    fi
    printf '%s\n' "$dir/bin/$1"
}

make_builder() {
    have_image "$KYC_LOCAL_BUILDER" && {
        info "$KYC_LOCAL_BUILDER exists (--force to make it again)"
        return 0
    }
    local sysroot chef cdx version
    sysroot="$(rust_sysroot)"
    version="$("$sysroot/bin/rustc" --version | awk '{print $2}')"
    chef="$(tool cargo-chef "$(dockerfile_arg CARGO_CHEF_VERSION)")"
    cdx="$(tool cargo-cyclonedx "$(dockerfile_arg CARGO_CYCLONEDX_VERSION)")"
    rm -rf "$KYC_TOOLS_HOME/target" # only the two binaries are kept (the build tree is ~500 MB)
    info "making $KYC_LOCAL_BUILDER: Debian 12 + gcc + Rust $version from $sysroot"
    # The toolchain as rustup lays it out, without docs, sources or the other targets.
    cat >"$work/builder-hook.sh" <<EOF
#!/bin/sh
set -eu
r="\$1/usr/local/rust"
mkdir -p "\$r/bin" "\$r/lib/rustlib" "\$1/usr/local/cargo/bin"
cp -a "$sysroot/bin/cargo" "$sysroot/bin/rustc" "$sysroot/bin/rustdoc" "\$r/bin/"
cp -a "$sysroot"/lib/*.so* "\$r/lib/"
cp -a "$sysroot/lib/rustlib/$(uname -m)-unknown-linux-gnu" "\$r/lib/rustlib/"
for b in cargo rustc rustdoc; do ln -s "../../rust/bin/\$b" "\$1/usr/local/cargo/bin/\$b"; done
install -m 0755 "$chef" "$cdx" "\$1/usr/local/cargo/bin/"
EOF
    chmod +x "$work/builder-hook.sh"
    # shellcheck disable=SC2086 # $mirror is empty (host's sources) or one URL
    mmdebstrap --quiet --variant=apt --architectures="$arch" --include=ca-certificates,gcc,libc6-dev \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook="\"$work/builder-hook.sh\" \"\$1\"" \
        "$suite" "$work/builder.tar" $mirror
    # imported only once mmdebstrap succeeded (a pipe would import a half-written tree)
    docker import \
        --change 'ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "ENV RUST_VERSION=$version" \
        --change 'WORKDIR /' \
        --change 'CMD ["bash"]' \
        --change "LABEL org.opencontainers.image.title=$KYC_LOCAL_BUILDER org.opencontainers.image.description=\"Debian 12, gcc, Rust $version, cargo-chef, cargo-cyclonedx\" io.github.banknext.kyc.stands-for=rust:$KYC_RUST_VERSION-slim-bookworm" \
        "$work/builder.tar" "$KYC_LOCAL_BUILDER" >/dev/null
    rm -f "$work/builder.tar"
    info "made $KYC_LOCAL_BUILDER ($(docker image inspect --format '{{.Size}}' "$KYC_LOCAL_BUILDER" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

make_envoy() {
    local bin version image
    bin="$("$KYC_ROOT/scripts/run-local.sh" --print-envoy)"
    version="$("$bin" --version 2>/dev/null | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -n1)"
    [[ -n "$version" ]] || die "could not read the version of $bin"
    image="kyc-local/envoy:$version"
    have_image "$image" && {
        info "$image exists (--force to make it again)"
        return 0
    }
    docker image inspect "$KYC_LOCAL_CC" >/dev/null 2>&1 || make_cc
    mkdir -p "$work/envoy"
    cp "$bin" "$work/envoy/envoy"
    docker build --quiet --network none --tag "$image" --file - "$work/envoy" >/dev/null <<EOF
FROM $KYC_LOCAL_CC
COPY envoy /usr/local/bin/envoy
LABEL org.opencontainers.image.title=$image org.opencontainers.image.version=$version io.github.banknext.kyc.stands-for=envoyproxy/envoy:v$version
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/envoy"]
CMD ["-c", "/etc/envoy/envoy.yaml"]
EOF
    info "made $image ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}

for w in "${wanted[@]}"; do
    case "$w" in
    runtime) make_runtime ;;
    cc) make_cc ;;
    builder) make_builder ;;
    envoy) make_envoy ;;
    esac
done
info "local base images: $(docker image ls --format '{{.Repository}}:{{.Tag}}' 'kyc-local/*' | sort | tr '\n' ' ')"
