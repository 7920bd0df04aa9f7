"""A real registry (marker `engine`): Debian's docker-registry (CNCF distribution) on 127.0.0.1,
`REGISTRY=... scripts/build-images.sh --offline` pushes the three images and writes their digests,
each is pulled back by digest (docker and skopeo agree on it) and run. The build uses the builder
DOCKER_BUILDKIT names (scripts/test.sh: 1, BuildKit, so the images come from its cache);
DOCKER_BUILDKIT=0 builds them with the legacy builder instead, a second cold compile (4-10 min here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

import engine
from conftest import ROOT, SCRIPTS
from engine import SERVICES, TAG, docker, eventually, get

pytestmark = pytest.mark.engine

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    engine.require_engine()
    binary = shutil.which("docker-registry") or shutil.which("registry")
    assert binary, "docker-registry is not installed (scripts/test.sh installs Debian's docker-registry)"
    d = tmp_path_factory.mktemp("registry")
    port = engine.free_port()
    (d / "config.yml").write_text(CONFIG.format(root=d / "data", port=port))
    proc = subprocess.Popen([binary, "serve", str(d / "config.yml")], stdout=subprocess.DEVNULL,
                            stderr=open(d / "registry.log", "w"))
    try:
        eventually("the registry answers /v2/", lambda: get(f"http://127.0.0.1:{port}/v2/").status == 200, deadline=20)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def pushed(registry, tmp_path_factory):
    digests = tmp_path_factory.mktemp("digests") / "images.digests"
    env = {**os.environ, "REGISTRY": registry, "KYC_DIGESTS_FILE": str(digests)}
    proc = subprocess.run([str(SCRIPTS / "build-images.sh"), "--offline"], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if os.environ.get("DOCKER_BUILDKIT") == "0":
        assert "Successfully built" in proc.stdout  # the legacy builder's words (BuildKit prints none)
    refs = dict(line.split() for line in digests.read_text().splitlines())
    yield refs
    for s in SERVICES:
        docker("image", "rm", f"{registry}/{s}:{TAG}", check=False)


def test_push_writes_one_digest_per_image(pushed, registry):
    assert sorted(pushed) == sorted(SERVICES)
    for s, ref in pushed.items():
        assert ref.startswith(f"{registry}/{s}@sha256:") and len(ref.split("@sha256:")[1]) == 64


def test_the_registry_serves_the_pushed_manifest(pushed, registry):
    for s, ref in pushed.items():
        digest = ref.split("@")[1]
        tags = json.loads(get(f"http://{registry}/v2/{s}/tags/list").body)
        assert TAG in tags["tags"]
        head = get(f"http://{registry}/v2/{s}/manifests/{TAG}",
                   headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        assert head.status == 200 and head.headers["Docker-Content-Digest"] == digest
        if shutil.which("skopeo"):
            out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True,
                                 text=True, check=True).stdout
            assert json.loads(out)["Digest"] == digest


@pytest.mark.parametrize("service", SERVICES)
def test_pulled_back_by_digest_and_run(pushed, service):
    ref = pushed[service]
    # drop every local name of it first, so the pull really comes from the registry
    docker("image", "rm", ref, check=False)
    docker("image", "rm", ref.split("@")[0] + f":{TAG}", check=False)
    docker("pull", ref, timeout=300)
    try:
        labels = engine.inspect(ref)["Config"]["Labels"]
        assert labels["org.opencontainers.image.title"] == service
        c = engine.run_container(ref, env={"KYC_GATEWAY_URL": "http://127.0.0.1:9"})
        try:
            engine.wait_ready(c)
            assert get(c.url("/version")).status == 200
        finally:
            c.remove()
    finally:
        docker("image", "rm", ref, check=False)


def test_a_wrong_digest_is_not_pulled(pushed):
    ref = pushed["kyc-credit-check-basic"].split("@")[0] + "@sha256:" + "0" * 64
    proc = docker("pull", ref, check=False, timeout=120)
    assert proc.returncode != 0 and ("not found" in proc.stderr or "unknown" in proc.stderr.lower()), proc.stderr


def test_the_digests_file_deploys(pushed, tmp_path):
    """scripts/deploy.sh --digests takes the file build-images.sh wrote (stand-in kubectl, as in
    test_scripts.py; no cluster here)."""
    (tmp_path / "calls").touch()
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "kubectl").symlink_to(ROOT / "tests" / "deploy" / "stubs" / "stub")
    digests = tmp_path / "d"
    digests.write_text("".join(f"{s} {r}\n" for s, r in pushed.items()))
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "STUB_LOG": str(tmp_path / "calls")}
    proc = subprocess.run([str(SCRIPTS / "deploy.sh"), "--digests", str(digests)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    applied = next(p for p in tmp_path.glob("calls.dir.*"))
    text = "".join(p.read_text() for p in applied.iterdir())
    for ref in pushed.values():
        assert f"image: {ref}" in text
