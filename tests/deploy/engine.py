"""Helpers of the engine tests (marker `engine`): the real Docker engine through the `docker` CLI,
real HTTP on 127.0.0.1, polling with deadlines. scripts/test.sh starts the engine and builds the
images (scripts/build-images.sh --offline) before it runs `tests/deploy/run.sh -m engine`."""

from __future__ import annotations

import atexit
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from conftest import ROOT

SERVICES = ("kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced")
TAG = "0.1.0"
LOCAL_ENVOY = "kyc-local/envoy:1.40.0"
LOCAL_RUNTIME = "kyc-local/static:bookworm"


def docker(*args: str, check: bool = True, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def inspect(ref: str, fmt: str | None = None, kind: str = "image"):
    if fmt:
        return docker(kind, "inspect", "--format", fmt, ref).stdout.strip()
    return json.loads(docker(kind, "inspect", ref).stdout)[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def get(url: str, timeout: float = 5, headers: dict | None = None) -> Answer:
    req = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as r:
            return Answer(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, dict(e.headers), e.read())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def eventually(what: str, probe, deadline: float = 60, every: float = 0.2):
    """Calls probe() until it returns a truthy value; fails naming `what` and the last error."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            value = probe()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported below
            last = e
        time.sleep(every)
    raise AssertionError(f"{what} not within {deadline}s (last error: {last!r})")


@dataclass
class Container:
    name: str
    port: int | None = None
    extra: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        assert self.port, f"{self.name} publishes no port"
        return f"http://127.0.0.1:{self.port}{path}"

    def logs(self) -> str:
        p = docker("logs", self.name, check=False)
        return p.stdout + p.stderr

    def pid(self) -> int:
        return int(inspect(self.name, "{{.State.Pid}}", kind="container"))

    def remove(self):
        docker("rm", "-f", "-v", self.name, check=False)


_default_network: str | None = None


def default_network() -> str:
    """A network for containers that need none of their own: an engine started with --bridge=none
    (as scripts/test.sh starts it) has no default bridge, so nothing is published without one."""
    global _default_network
    if _default_network is None:
        name = unique("kyc-test-default")
        docker("network", "create", "--label", "kyc-test=1", name)
        atexit.register(lambda: docker("network", "rm", name, check=False))
        _default_network = name
    return _default_network


def run_container(image: str, *, network: str | None = None, env: dict | None = None, publish: bool = True,
                  aliases: tuple[str, ...] = (), args: tuple[str, ...] = (), hardened: bool = True,
                  name: str | None = None, mounts: tuple[str, ...] = (), entry_args: tuple[str, ...] = ()) -> Container:
    name = name or unique("kyc-test")
    port = free_port() if publish else None
    cmd = ["run", "-d", "--name", name, "--label", "kyc-test=1"]
    if hardened:
        cmd += ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true"]
    cmd += ["--network", network or default_network()]
    for a in aliases:
        cmd += ["--network-alias", a]
    if port:
        cmd += ["-p", f"127.0.0.1:{port}:8080"]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    for m in mounts:
        cmd += ["-v", m]
    cmd += [*args, image, *entry_args]
    docker(*cmd)
    return Container(name, port)


def wait_ready(c: Container, deadline: float = 30):
    eventually(f"{c.name} /readyz 200", lambda: get(c.url("/readyz"), timeout=2).status == 200, deadline)


def image_files(image: str) -> list[str]:
    """Every path in the image's filesystem (docker export of a created, never started, container)."""
    name = unique("kyc-files")
    docker("create", "--name", name, image)
    try:
        out = subprocess.run(f"docker export {name} | tar -t", shell=True, capture_output=True, text=True, check=True)
        return out.stdout.splitlines()
    finally:
        docker("rm", name, check=False)


def image_file(image: str, path: str) -> bytes:
    name = unique("kyc-file")
    docker("create", "--name", name, image)
    try:
        out = subprocess.run(["docker", "cp", f"{name}:{path}", "-"], capture_output=True, check=True)
        # docker cp to stdout writes a tar stream of the one file
        import io
        import tarfile
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
            member = t.getmembers()[0]
            return t.extractfile(member).read()
    finally:
        docker("rm", name, check=False)


def git_revision() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def require_engine():
    proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    assert proc.returncode == 0, (
        "the engine tests need a Docker engine (scripts/test.sh starts one): " + proc.stderr.strip())
    return proc.stdout.strip()


def require_image(ref: str):
    proc = docker("image", "inspect", ref, check=False)
    assert proc.returncode == 0, f"{ref} is missing: run scripts/build-images.sh --offline (scripts/test.sh does)"


def repo_path(*parts: str) -> Path:
    return ROOT.joinpath(*parts)
