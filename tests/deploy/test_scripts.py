"""The deploy scripts run against stand-in docker/kubectl/minikube/istioctl executables
(stubs/stub) that record their arguments; the tests assert the command sequence, the
idempotent paths, the input checks and the missing-tool messages. smoke.sh talks to a real
HTTP server on 127.0.0.1 standing in for the ingress gateway. smoke.sh and canary.sh call the real
kyc-mesh (`split --url`, `weights --print`): target/debug/kyc-mesh, built by scripts/test.sh, or
$KYC_MESH."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import HERE, NETWORKING, ROOT, SCRIPTS
import meshcheck

STUB = HERE / "stubs" / "stub"
TOOLS = ("docker", "kubectl", "minikube", "istioctl")
# Real utilities the scripts (and the stub) may use; nothing else is on PATH, so a real
# kubectl/docker on this machine can never be reached by accident.
UTILITIES = (
    "bash", "env", "dirname", "basename", "cat", "sed", "awk", "grep", "mktemp", "rm", "sort",
    "tr", "head", "tail", "wc", "mkdir", "cp", "uniq", "cut", "curl", "seq", "ls",
)
# The real kyc-mesh the scripts call (scripts/test.sh builds it before these tests run).
KYC_MESH = os.environ.get("KYC_MESH") or str(ROOT / "target" / "debug" / "kyc-mesh")
SERVICES = ("kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced")
SCRIPT_NAMES = ("minikube-up.sh", "build-images.sh", "deploy.sh", "canary.sh", "smoke.sh", "teardown.sh",
                "base-images.sh", "compose-envoy.sh")


@pytest.fixture(scope="session")
def utilities(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("utilities")
    for name in UTILITIES:
        real = shutil.which(name)
        assert real, f"{name} is needed by the script tests"
        (d / name).symlink_to(real)
    return d


@pytest.fixture
def stubs(tmp_path) -> Path:
    d = tmp_path / "stubs"
    d.mkdir()
    for tool in TOOLS:
        (d / tool).symlink_to(STUB)
    return d


class Runner:
    def __init__(self, tmp_path: Path, stubs: Path, utilities: Path):
        self.log = tmp_path / "calls.log"
        self.log.touch()
        self.stubs = stubs
        self.utilities = utilities
        self.home = tmp_path / "home"
        self.home.mkdir()

    def __call__(self, script: str, *args: str, env: dict | None = None, with_stubs: bool = True,
                 missing: tuple[str, ...] = ()):
        if missing:
            for tool in missing:
                (self.stubs / tool).unlink(missing_ok=True)
        path = f"{self.stubs}:{self.utilities}" if with_stubs else str(self.utilities)
        assert Path(KYC_MESH).is_file(), f"{KYC_MESH} not found: cargo build -p kyc-mesh first (scripts/test.sh does)"
        full_env = {"PATH": path, "HOME": str(self.home), "STUB_LOG": str(self.log), "LC_ALL": "C",
                    "KYC_MESH": KYC_MESH}
        full_env.update(env or {})
        return subprocess.run(
            [str(SCRIPTS / script), *args], capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=120,
        )

    def calls(self) -> list[list[str]]:
        return [line.split("\t") for line in self.log.read_text().splitlines()]

    def reset(self):
        self.log.write_text("")

    def file(self, suffix: str, index: int) -> Path:
        return Path(f"{self.log}.{suffix}.{index}")


@pytest.fixture
def run(tmp_path, stubs, utilities) -> Runner:
    return Runner(tmp_path, stubs, utilities)


def index_of(calls, prefix: list[str]) -> int:
    for i, c in enumerate(calls):
        if c[: len(prefix)] == prefix:
            return i
    raise AssertionError(f"no call starting with {prefix} in {calls}")


# ---- all scripts ---------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPT_NAMES)
def test_help(run, script):
    proc = run(script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Usage: scripts/{script}")
    assert run.calls() == []


@pytest.mark.parametrize("script", SCRIPT_NAMES)
def test_strict_mode(script):
    text = (SCRIPTS / script).read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text


@pytest.mark.parametrize("script", ("minikube-up.sh", "deploy.sh", "teardown.sh", "base-images.sh", "compose-envoy.sh"))
def test_unknown_argument_is_refused(run, script):
    proc = run(script, "--bogus")
    assert proc.returncode != 0 and "unknown argument: --bogus" in proc.stderr
    assert run.calls() == []


@pytest.mark.parametrize(
    "script,args,tool",
    [
        ("minikube-up.sh", (), "docker"),
        ("minikube-up.sh", (), "istioctl"),
        ("build-images.sh", (), "docker"),
        ("build-images.sh", (), "minikube"),
        ("deploy.sh", (), "kubectl"),
        ("canary.sh", ("90", "10"), "kubectl"),
        ("smoke.sh", ("3",), "kubectl"),
        ("teardown.sh", (), "kubectl"),
        ("teardown.sh", ("--istio",), "istioctl"),
        ("teardown.sh", ("--cluster",), "minikube"),
    ],
)
def test_missing_tool_gives_an_install_hint(run, script, args, tool):
    proc = run(script, *args, missing=(tool,))
    assert proc.returncode == 127, proc.stdout + proc.stderr
    assert f"error: {tool} is required but was not found on PATH." in proc.stderr
    assert "install: " in proc.stderr
    assert all(c[0] != tool for c in run.calls())


# ---- minikube-up.sh --------------------------------------------------------------------------


def test_minikube_up_fresh(run):
    proc = run("minikube-up.sh")
    assert proc.returncode == 0, proc.stderr
    assert run.calls() == [
        ["minikube", "status", "-p", "minikube"],
        ["minikube", "start", "-p", "minikube", "--driver=docker", "--cpus=4", "--memory=8192"],
        ["kubectl", "config", "use-context", "minikube"],
        ["kubectl", "get", "deployment", "istiod", "-n", "istio-system"],
        ["istioctl", "install", "--set", "profile=demo", "-y"],
        ["kubectl", "label", "namespace", "default", "istio-injection=enabled", "--overwrite"],
        ["kubectl", "rollout", "status", "deployment/istiod", "-n", "istio-system", "--timeout=300s"],
        ["kubectl", "rollout", "status", "deployment/istio-ingressgateway", "-n", "istio-system", "--timeout=300s"],
    ]


def test_minikube_up_again_skips_what_is_there(run):
    proc = run("minikube-up.sh", env={"STUB_MINIKUBE_RUNNING": "1", "STUB_ISTIO_INSTALLED": "1",
                                      "MINIKUBE_PROFILE": "kyc", "MINIKUBE_CPUS": "2"})
    assert proc.returncode == 0, proc.stderr
    tools_and_verbs = [c[:2] for c in run.calls()]
    assert ["minikube", "start"] not in tools_and_verbs
    assert ["istioctl", "install"] not in tools_and_verbs
    assert run.calls()[0] == ["minikube", "status", "-p", "kyc"]
    assert ["kubectl", "label", "namespace", "default", "istio-injection=enabled", "--overwrite"] in run.calls()
    assert "already running" in proc.stdout and "already installed" in proc.stdout


def test_minikube_up_ambient(run):
    proc = run("minikube-up.sh", "--ambient")
    assert proc.returncode == 0, proc.stderr
    assert run.calls() == [
        ["minikube", "status", "-p", "minikube"],
        ["minikube", "start", "-p", "minikube", "--driver=docker", "--cpus=4", "--memory=8192"],
        ["kubectl", "config", "use-context", "minikube"],
        ["kubectl", "get", "deployment", "istiod", "-n", "istio-system"],
        ["istioctl", "install", "--set", "profile=ambient",
         "--set", "components.ingressGateways[0].name=istio-ingressgateway",
         "--set", "components.ingressGateways[0].enabled=true", "-y"],
        ["kubectl", "get", "crd", "gateways.gateway.networking.k8s.io"],
        ["kubectl", "label", "namespace", "default", "istio-injection-", "istio.io/dataplane-mode=ambient", "--overwrite"],
        ["kubectl", "rollout", "status", "deployment/istiod", "-n", "istio-system", "--timeout=300s"],
        ["kubectl", "rollout", "status", "daemonset/ztunnel", "-n", "istio-system", "--timeout=300s"],
        ["kubectl", "rollout", "status", "deployment/istio-ingressgateway", "-n", "istio-system", "--timeout=300s"],
    ]
    assert "networking/scenarios/ambient.yaml" in proc.stdout


def test_minikube_up_ambient_installs_missing_gateway_api_crds_or_says_how(run, tmp_path):
    crds = tmp_path / "standard-install.yaml"
    crds.write_text("# the CRDs\n")
    proc = run("minikube-up.sh", "--ambient", env={"STUB_NO_GATEWAY_API": "1", "GATEWAY_API_CRDS": str(crds),
                                                    "STUB_MINIKUBE_RUNNING": "1", "STUB_ISTIO_INSTALLED": "1"})
    assert proc.returncode == 0, proc.stderr
    assert ["kubectl", "apply", "-f", str(crds)] in run.calls()
    assert ["istioctl", "install"] not in [c[:2] for c in run.calls()]
    missing = run("minikube-up.sh", "--ambient", env={"STUB_NO_GATEWAY_API": "1"})
    assert missing.returncode == 1 and "GATEWAY_API_CRDS" in missing.stderr


def test_minikube_up_addons(run, tmp_path):
    istio_home = tmp_path / "istio-1.27.0"
    (istio_home / "samples" / "addons").mkdir(parents=True)
    proc = run("minikube-up.sh", "--addons", env={"ISTIO_HOME": str(istio_home)})
    assert proc.returncode == 0, proc.stderr
    assert run.calls()[-1] == ["kubectl", "apply", "-f", f"{istio_home}/samples/addons"]


def test_minikube_up_addons_need_istio_home(run):
    proc = run("minikube-up.sh", "--addons")
    assert proc.returncode == 1 and "ISTIO_HOME" in proc.stderr
    assert run.calls() == []


# ---- build-images.sh --------------------------------------------------------------------------


def build_calls(calls):
    return [c for c in calls if c[:2] == ["docker", "build"]]


def test_build_into_minikube_docker(run):
    proc = run("build-images.sh")
    assert proc.returncode == 0, proc.stderr
    calls = run.calls()
    assert calls[0] == ["minikube", "-p", "minikube", "docker-env", "--shell", "bash"]
    builds = build_calls(calls)
    assert len(builds) == 3 and len(calls) == 4  # no push
    for service, call in zip(SERVICES, builds):
        assert call == [
            "docker", "build", "--file", f"{ROOT}/docker/Dockerfile",
            "--build-arg", "VERSION=0.1.0", "--build-arg", "REVISION=unknown",
            "--target", service, "--tag", f"{service}:0.1.0", str(ROOT),
        ]
    # the docker-env output was evaluated: docker talked to minikube's daemon
    assert run.file("docker-env", 1).read_text() == "DOCKER_HOST=tcp://127.0.0.1:1\n"


def test_build_and_push_to_a_registry(run, tmp_path):
    digests = tmp_path / "digests"
    proc = run("build-images.sh", "kyc-credit-check-advanced",
               env={"REGISTRY": "registry.example/kyc/", "TAG": "1.2.3", "KYC_DIGESTS_FILE": str(digests)})
    assert proc.returncode == 0, proc.stderr
    image = "registry.example/kyc/kyc-credit-check-advanced:1.2.3"
    calls = run.calls()
    assert all(c[0] == "docker" for c in calls)  # no minikube
    assert calls[0][-5:] == ["--target", "kyc-credit-check-advanced", "--tag", image, str(ROOT)]
    assert calls[1] == ["docker", "push", image]
    assert calls[2][:3] == ["docker", "image", "inspect"] and calls[2][-1] == image
    assert len(calls) == 3
    pinned = f"registry.example/kyc/kyc-credit-check-advanced@sha256:{'0' * 64}"
    assert digests.read_text() == f"kyc-credit-check-advanced {pinned}\n"
    assert f"pushed {pinned}" in proc.stdout and "--digests" in proc.stdout


def test_build_offline(run, tmp_path):
    (run.stubs / "cargo").symlink_to(STUB)
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE----- MIIB -----END CERTIFICATE-----\n")  # one line: the stub logs lines
    proc = run("build-images.sh", "--offline", env={"PROXY_CA": str(ca)})
    assert proc.returncode == 0, proc.stderr
    calls = run.calls()
    assert all(c[0] in ("docker", "cargo") for c in calls)  # no minikube, no docker-env
    assert calls[0] == ["docker", "image", "inspect", "kyc-local/rust:1.95-bookworm"]
    assert calls[1] == ["docker", "image", "inspect", "kyc-local/static:bookworm"]
    assert calls[2] == ["cargo", "vendor", "--locked", "--quiet", "vendor/crates"]
    builds = build_calls(calls)
    assert [b[b.index("--target") + 1] for b in builds] == list(SERVICES)
    for b in builds:
        assert "--network" in b and b[b.index("--network") + 1] == "none"
        args = [b[i + 1] for i, a in enumerate(b) if a == "--build-arg"]
        assert "BUILDER_IMAGE=kyc-local/rust:1.95-bookworm" in args
        assert "RUNTIME_IMAGE=kyc-local/static:bookworm" in args
        assert f"PROXY_CA={ca.read_text()}".rstrip("\n") in args
    assert run.file("docker-env", index_of(calls, ["docker", "build"])).read_text() == "DOCKER_HOST=\n"


def test_build_offline_refuses_what_cannot_work(run):
    proc = run("build-images.sh", "--offline", env={"REGISTRY": "r.example", "PLATFORMS": "linux/arm64"})
    assert proc.returncode == 1 and "PLATFORMS and --offline do not mix" in proc.stderr
    proc = run("build-images.sh", env={"PROXY_CA": "/nonexistent/ca.pem"})
    assert proc.returncode == 1 and "PROXY_CA=/nonexistent/ca.pem" in proc.stderr
    assert run.calls() == []


def test_build_multi_arch(run):
    proc = run("build-images.sh", "kyc-aggregator-mgt",
               env={"REGISTRY": "registry.example/kyc", "PLATFORMS": "linux/amd64,linux/arm64"})
    assert proc.returncode == 0, proc.stderr
    [call] = run.calls()
    assert call[:5] == ["docker", "buildx", "build", "--platform", "linux/amd64,linux/arm64"]
    assert call[-2:] == ["--push", str(ROOT)]
    assert "registry.example/kyc/kyc-aggregator-mgt:0.1.0" in call


def test_build_refuses_bad_input(run):
    proc = run("build-images.sh", env={"PLATFORMS": "linux/amd64,linux/arm64"})
    assert proc.returncode == 1 and "PLATFORMS needs REGISTRY" in proc.stderr
    proc = run("build-images.sh", "kyc-nope")
    assert proc.returncode == 1 and "unknown service 'kyc-nope'" in proc.stderr
    assert run.calls() == []


# ---- deploy.sh ---------------------------------------------------------------------------------


def test_deploy(run):
    proc = run("deploy.sh")
    assert proc.returncode == 0, proc.stderr
    calls = run.calls()
    assert calls[0] == ["kubectl", "get", "crd", "virtualservices.networking.istio.io"]
    apply_at = index_of(calls, ["kubectl", "apply"])
    assert calls[apply_at] == ["kubectl", "apply", "-n", "default", "-f", str(NETWORKING)]
    rollouts = [c for c in calls if c[1:3] == ["rollout", "status"]]
    assert [c[3] for c in rollouts] == [f"deployment/{s}" for s in SERVICES]
    assert all(calls.index(r) > apply_at for r in rollouts)
    # no LoadBalancer IP: the NodePort on minikube's IP is printed, with the tunnel pitfall
    assert "http://127.0.0.1:31380" in proc.stdout
    assert "minikube tunnel" in proc.stdout
    assert "warning" not in proc.stderr


def test_deploy_is_repeatable(run):
    first = run("deploy.sh")
    calls = run.calls()
    run.reset()
    second = run("deploy.sh")
    assert first.returncode == second.returncode == 0
    assert run.calls() == calls


def test_deploy_with_registry_rewrites_a_copy(run):
    before = {p.name: p.read_bytes() for p in NETWORKING.rglob("*") if p.is_file()}
    proc = run("deploy.sh", env={"REGISTRY": "registry.example/kyc", "TAG": "2.0.0"})
    assert proc.returncode == 0, proc.stderr
    calls = run.calls()
    apply_at = index_of(calls, ["kubectl", "apply"])
    applied_dir = calls[apply_at][-1]
    assert applied_dir != str(NETWORKING)
    assert not Path(applied_dir).exists()  # the temporary copy is cleaned up
    copy = run.file("dir", apply_at)
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in meshcheck.yaml_files(NETWORKING))
    images = sorted(
        c["image"] for o in meshcheck.load_dir(copy) if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    )
    assert images == sorted(f"registry.example/kyc/{s}:2.0.0" for s in SERVICES)
    # everything else is identical to networking/
    originals = meshcheck.load_dir(NETWORKING)
    for o in originals:
        if o["kind"] == "Deployment":
            for c in o["spec"]["template"]["spec"]["containers"]:
                c["image"] = f"registry.example/kyc/{c['image'].split(':')[0]}:2.0.0"
    assert meshcheck.load_dir(copy) == originals
    after = {p.name: p.read_bytes() for p in NETWORKING.rglob("*") if p.is_file()}
    assert after == before


def digest_file(tmp_path, lines) -> Path:
    f = tmp_path / "images.digests"
    f.write_text("".join(l + "\n" for l in lines))
    return f


def test_deploy_by_digest(run, tmp_path):
    pinned = {s: f"127.0.0.1:5000/{s}@sha256:{(str(i) * 64)}" for i, s in enumerate(SERVICES, 1)}
    f = digest_file(tmp_path, [f"{s} {ref}" for s, ref in pinned.items()])
    proc = run("deploy.sh", "--digests", str(f))
    assert proc.returncode == 0, proc.stderr
    calls = run.calls()
    apply_at = index_of(calls, ["kubectl", "apply"])
    copy = run.file("dir", apply_at)
    deployed = {
        o["metadata"]["name"]: c["image"] for o in meshcheck.load_dir(copy) if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert deployed == pinned
    assert "pinned by digest" in proc.stdout


@pytest.mark.parametrize(
    "lines,message",
    [
        (["kyc-aggregator-mgt 127.0.0.1:5000/kyc-aggregator-mgt:0.1.0"], "is not '<crate> <image>@sha256:<64 hex>'"),
        (["kyc-nope r/x@sha256:" + "0" * 64], "unknown service 'kyc-nope'"),
        ([f"kyc-aggregator-mgt r/a@sha256:{'0' * 64}"], "expected a digest for each of"),
    ],
)
def test_deploy_by_digest_refuses_a_bad_file(run, tmp_path, lines, message):
    proc = run("deploy.sh", "--digests", str(digest_file(tmp_path, lines)))
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert run.calls() == []
    proc = run("deploy.sh", "--digests", str(tmp_path / "missing"))
    assert proc.returncode == 1 and "not a readable file" in proc.stderr


def test_deploy_without_istio_stops_early(run):
    proc = run("deploy.sh", env={"STUB_NO_CRDS": "1"})
    assert proc.returncode == 1 and "scripts/minikube-up.sh" in proc.stderr
    assert all(c[1] != "apply" for c in run.calls())


def test_deploy_warns_about_missing_injection(run):
    proc = run("deploy.sh", env={"STUB_INJECTION": ""})
    assert proc.returncode == 0
    assert "istio-injection=enabled" in proc.stderr


def test_deploy_uses_the_tunnel_address(run):
    proc = run("deploy.sh", env={"STUB_LB_IP": "127.0.0.1"})
    assert proc.returncode == 0
    assert "export GATEWAY=http://127.0.0.1\n" in proc.stdout


def test_deploy_refuses_odd_registry(run):
    proc = run("deploy.sh", env={"REGISTRY": "evil#registry"})
    assert proc.returncode == 1 and "REGISTRY" in proc.stderr
    assert run.calls() == []


# ---- canary.sh ----------------------------------------------------------------------------------


def report_split(vs) -> dict[str, int]:
    route = next(r for r in vs["spec"]["http"] if r["match"][0]["uri"]["prefix"] == "/credit-check/report")
    return {d["destination"]["host"]: d["weight"] for d in route["route"]}


@pytest.mark.parametrize("basic,advanced", [(90, 10), (0, 100), (100, 0), (33, 67)])
def test_canary_applies_the_weights(run, basic, advanced):
    proc = run("canary.sh", str(basic), str(advanced))
    assert proc.returncode == 0, proc.stderr
    [call] = run.calls()
    assert call == ["kubectl", "apply", "-n", "default", "-f", "-"]
    [vs] = list(yaml.safe_load_all(run.file("stdin", 0).read_text()))
    assert report_split(vs) == {"kyc-credit-check-basic": basic, "kyc-credit-check-advanced": advanced}
    [original] = [o for o in meshcheck.load_file(NETWORKING / "kyc-credit-check-istio-routing.yaml")]
    route = next(r for r in vs["spec"]["http"] if r["name"] == "credit-check-report")
    for d, o in zip(route["route"], next(r for r in original["spec"]["http"] if r["name"] == "credit-check-report")["route"]):
        d["weight"] = o["weight"]
    assert vs == original  # nothing but the weights changed
    assert meshcheck.analyze(meshcheck.overlay(meshcheck.load_dir(NETWORKING), [yaml.safe_load(run.file("stdin", 0).read_text())])) == []


def test_canary_print_needs_no_cluster(run):
    proc = run("canary.sh", "--print", "75", "25", with_stubs=False)
    assert proc.returncode == 0, proc.stderr
    assert report_split(yaml.safe_load(proc.stdout)) == {"kyc-credit-check-basic": 75, "kyc-credit-check-advanced": 25}


@pytest.mark.parametrize(
    "args,code,message",
    [
        # kyc-mesh weights checks them (exit 2, naming the field): the rule lives there only
        (("50", "60"), 2, "weights: they add up to 110, not 100"),
        (("101", "0"), 2, "weights.kyc-credit-check-basic: 101 is not a whole number from 0 to 100"),
        (("x", "100"), 2, '"x" is not a whole number'),
        (("1.5", "98.5"), 2, '"1.5" is not a whole number'),
        # canary.sh's own interface: BASIC ADVANCED
        (("100",), 1, "expected two weights"),
        (("40", "30", "30"), 1, "expected two weights"),
    ],
)
def test_canary_refuses_bad_weights(run, args, code, message):
    proc = run("canary.sh", *args)
    assert proc.returncode == code and message in proc.stderr, proc.stderr
    assert run.calls() == []


# ---- smoke.sh (real HTTP on 127.0.0.1) ------------------------------------------------------------


class FakeGateway:
    """Answers /kyc/v1/customer like the aggregator behind the gateway: plan is a list of
    (status, scorer or None, header?) cycled over the calls."""

    def __init__(self, plan):
        self.plan = plan
        self.paths: list[str] = []
        self.auth: list[str | None] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                gateway.paths.append(self.path)
                gateway.auth.append(self.headers.get("Authorization"))
                status, scorer, header = gateway.plan[(len(gateway.paths) - 1) % len(gateway.plan)]
                if scorer:
                    body = ('{"type":"BASIC","servedBy":{"service":"%s","version":"v1","instance":"pod-1"}}' % scorer)
                else:
                    body = '{"errorCode":"KYC-502","errorMessage":"scorer failed","type":"KYC"}'
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if scorer and header:
                    self.send_header("x-kyc-scored-by", f"{scorer}/{'v2' if 'advanced' in scorer else 'v1'}/pod-1")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


BASIC = "kyc-credit-check-basic"
ADVANCED = "kyc-credit-check-advanced"


def bar_line(stdout: str, who: str) -> list[str]:
    """`kyc-mesh split`'s line for WHO: name, bar, count, percent."""
    [line] = [l for l in stdout.splitlines() if l.startswith(who + " ")]
    return line.split()


def test_smoke_draws_the_split(run):
    with FakeGateway([(200, BASIC, True), (200, BASIC, True), (200, BASIC, True), (200, ADVANCED, True)]) as gw:
        proc = run("smoke.sh", "8", env={"GATEWAY": f"http://127.0.0.1:{gw.port}"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gw.paths == ["/kyc/v1/customer?type=report"] * 8
    assert bar_line(proc.stdout, BASIC) == [BASIC, "█" * 38, "6", "75.0%"]
    assert bar_line(proc.stdout, ADVANCED) == [ADVANCED, "█" * 13, "2", "25.0%"]
    assert "all 8 calls succeeded" in proc.stdout
    assert run.calls() == []  # GATEWAY given: no kubectl/minikube


def test_smoke_reads_the_body_without_the_header(run):
    with FakeGateway([(200, ADVANCED, False)]) as gw:
        proc = run("smoke.sh", "3", env={"GATEWAY": f"127.0.0.1:{gw.port}/", "KYC_TYPE": "advancedReport"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gw.paths == ["/kyc/v1/customer?type=advancedReport"] * 3
    assert bar_line(proc.stdout, ADVANCED)[2:] == ["3", "100.0%"]


def test_smoke_fails_on_errors(run):
    with FakeGateway([(200, BASIC, True), (502, None, False)]) as gw:
        proc = run("smoke.sh", "4", env={"GATEWAY": f"http://127.0.0.1:{gw.port}"})
    assert proc.returncode == 1
    assert bar_line(proc.stdout, "HTTP 502")[-2:] == ["2", "50.0%"]
    assert "some of the 4 calls failed" in proc.stderr


def test_smoke_finds_the_gateway_through_the_node_port(run):
    with FakeGateway([(200, BASIC, True)]) as gw:
        proc = run("smoke.sh", "2", env={"STUB_NODEPORT": str(gw.port), "STUB_MINIKUBE_IP": "127.0.0.1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(gw.paths) == 2
    calls = run.calls()
    assert [c[0] for c in calls] == ["kubectl", "kubectl", "minikube", "kubectl"]
    assert calls[2] == ["minikube", "-p", "minikube", "ip"]
    assert "requestauthentication" in calls[3]  # jwt-auth applied? (not here: no token)
    assert gw.auth == [None, None]


def test_smoke_sends_a_token(run, tmp_path):
    with FakeGateway([(200, BASIC, True)]) as gw:
        proc = run("smoke.sh", "2", env={"GATEWAY": f"http://127.0.0.1:{gw.port}", "KYC_TOKEN": "given.token.value"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gw.auth == ["Bearer given.token.value"] * 2
    # The cluster runs jwt-auth and no token is given: kyc-mesh makes a demo token.
    fake = tmp_path / "kyc-mesh"
    # kyc-mesh's token made up, everything else (split) the real one
    fake.write_text("#!/bin/sh\nif [ \"$1 $2 $3\" = 'token --sub smoke-test' ]; then echo minted.demo.token; exit 0; fi\n"
                    f"exec {KYC_MESH} \"$@\"\n")
    fake.chmod(0o755)
    with FakeGateway([(200, BASIC, True)]) as gw:
        env = {"STUB_NODEPORT": str(gw.port), "STUB_MINIKUBE_IP": "127.0.0.1", "STUB_JWT_AUTH": "1", "KYC_MESH": str(fake)}
        proc = run("smoke.sh", "2", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert gw.auth == ["Bearer minted.demo.token"] * 2
    assert "jwt-auth" in proc.stdout


@pytest.mark.parametrize("n", ["0", "abc", "10001", "-3"])
def test_smoke_refuses_bad_counts(run, n):
    proc = run("smoke.sh", n, env={"GATEWAY": "http://127.0.0.1:9"})
    assert proc.returncode == 1
    assert run.calls() == []


@pytest.mark.parametrize("timeout", ["0", "ten", "1.5"])
def test_smoke_refuses_a_bad_timeout(run, timeout):
    proc = run("smoke.sh", "1", env={"GATEWAY": "http://127.0.0.1:9", "SMOKE_TIMEOUT": timeout})
    assert proc.returncode == 1 and "SMOKE_TIMEOUT" in proc.stderr, proc.stderr


# ---- teardown.sh ------------------------------------------------------------------------------


def test_teardown(run):
    proc = run("teardown.sh")
    assert proc.returncode == 0, proc.stderr
    assert run.calls() == [
        ["kubectl", "get", "crd", "virtualservices.networking.istio.io"],
        ["kubectl", "delete", "-n", "default", "-f", str(NETWORKING), "--ignore-not-found"],
        ["kubectl", "get", "crd", "peerauthentications.security.istio.io"],
        ["kubectl", "delete", "-n", "default", "-f", f"{NETWORKING}/scenarios/mtls-strict.yaml", "--ignore-not-found"],
        ["kubectl", "get", "crd", "httproutes.gateway.networking.k8s.io"],
        ["kubectl", "delete", "-n", "default", "-f", f"{NETWORKING}/scenarios/gateway-api.yaml", "--ignore-not-found"],
    ]


def test_teardown_without_gateway_api_crds(run):
    proc = run("teardown.sh", env={"STUB_NO_GATEWAY_API": "1"})
    assert proc.returncode == 0, proc.stderr
    assert not any("gateway-api.yaml" in " ".join(c) for c in run.calls())


def test_teardown_after_istio_is_gone(run):
    proc = run("teardown.sh", env={"STUB_NO_CRDS": "1"})
    assert proc.returncode == 0, proc.stderr
    deletes = [c for c in run.calls() if c[1] == "delete"]
    assert deletes == [
        ["kubectl", "delete", "-n", "default", "-f", f"{NETWORKING}/{name}-k8-istio.yml", "--ignore-not-found"]
        for name in sorted(SERVICES)
    ]


def test_teardown_is_repeatable(run):
    first = run("teardown.sh")
    calls = run.calls()
    run.reset()
    second = run("teardown.sh")
    assert first.returncode == second.returncode == 0
    assert run.calls() == calls


def test_teardown_istio(run):
    proc = run("teardown.sh", "--istio")
    assert proc.returncode == 0, proc.stderr
    calls = run.calls()
    assert calls[-3:] == [
        ["istioctl", "uninstall", "--purge", "-y"],
        ["kubectl", "delete", "namespace", "istio-system", "--ignore-not-found"],
        ["kubectl", "label", "namespace", "default", "istio-injection-"],
    ]


def test_teardown_cluster(run):
    proc = run("teardown.sh", "--cluster", env={"MINIKUBE_PROFILE": "kyc"})
    assert proc.returncode == 0, proc.stderr
    assert run.calls() == [["minikube", "delete", "-p", "kyc"]]


# ---- canary.sh --auto (kyc-mesh canary --cluster behind a Prometheus port-forward) -----------------


def test_canary_auto_runs_kyc_mesh_in_cluster_mode(run, stubs):
    (stubs / "kyc-mesh").symlink_to(STUB)
    proc = run("canary.sh", "--auto", "--no-port-forward", "--prometheus-port", "9999", "--interval", "30s",
               env={"KYC_MESH": str(stubs / "kyc-mesh"), "KYC_NAMESPACE": "kyc"})
    assert proc.returncode == 0, proc.stderr
    [call] = run.calls()
    assert call == ["kyc-mesh", "--networking", str(ROOT / "networking"), "canary", "--cluster",
                    "--prometheus-url", "http://127.0.0.1:9999", "--namespace", "kyc", "--interval", "30s"]


def test_canary_auto_port_forwards_the_prometheus_addon(run, stubs):
    import http.server
    import threading

    class Ready(http.server.BaseHTTPRequestHandler):
        # Ready once the port-forward has started (as a real one would make it reachable).
        def do_GET(self):  # noqa: N802 (http.server's spelling)
            forwarded = "port-forward" in run.log.read_text()
            self.send_response(200 if self.path == "/-/ready" and forwarded else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    (stubs / "kyc-mesh").symlink_to(STUB)
    try:
        proc = run("canary.sh", "--auto", "--prometheus-port", str(port), env={"KYC_MESH": str(stubs / "kyc-mesh")})
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    calls = run.calls()
    assert ["kubectl", "-n", "istio-system", "port-forward", "svc/prometheus", f"{port}:9090"] in calls
    # The port-forward runs in the background: its line may come after kyc-mesh's.
    [mesh] = [c for c in calls if c[0] == "kyc-mesh"]
    assert mesh[:7] == ["kyc-mesh", "--networking", str(ROOT / "networking"), "canary", "--cluster", "--prometheus-url",
                        f"http://127.0.0.1:{port}"]


def test_canary_auto_without_kyc_mesh_says_how_to_build_it(run, tmp_path):
    proc = run("canary.sh", "--auto", "--no-port-forward", env={"KYC_MESH": str(tmp_path / "nope")})
    assert proc.returncode != 0 and "kyc-mesh not found" in proc.stderr
