"""The three service images as images, on the real Docker engine (marker `engine`): size, user,
read-only root and no capabilities, no shell, labels, probes and Swagger UI, the health check,
bad configuration, `docker stop` under load, name resolution and TLS roots inside a container,
and the SBOM each image carries. Each check has a case that makes it fail."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

import engine
from engine import SERVICES, TAG, docker, eventually, get, inspect, run_container, wait_ready

pytestmark = pytest.mark.engine

MAX_SIZE = 20_000_000  # bytes, the target of issue 16 (the images were ~33 MB on distroless/cc)
SHELLS = ("sh", "bash", "dash", "ash", "busybox", "zsh")


@pytest.fixture(scope="module", autouse=True)
def images():
    engine.require_engine()
    for s in SERVICES:
        engine.require_image(f"{s}:{TAG}")


@pytest.fixture
def network():
    name = engine.unique("kyc-test-net")
    docker("network", "create", "--label", "kyc-test=1", name)
    yield name
    for cid in docker("ps", "-aq", "--filter", f"network={name}").stdout.split():
        docker("rm", "-f", "-v", cid, check=False)
    docker("network", "rm", name, check=False)


@pytest.fixture
def containers():
    started: list[engine.Container] = []
    yield started
    for c in started:
        c.remove()


def image(service: str) -> str:
    return f"{service}:{TAG}"


# ---- size, user, filesystem ------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_small(service):
    size = int(inspect(image(service), "{{.Size}}"))
    assert size <= MAX_SIZE, f"{service} is {size / 1e6:.1f} MB, over {MAX_SIZE / 1e6:.0f} MB"


def test_the_size_check_fails_on_a_big_image(tmp_path):
    (tmp_path / "blob").write_bytes(b"\0" * (MAX_SIZE + 1))
    big = engine.unique("kyc-test-big").lower()
    docker("build", "--network", "none", "-q", "-t", big, "-f", "-", str(tmp_path),
           input=f"FROM {image('kyc-credit-check-basic')}\nCOPY blob /blob\n")
    try:
        assert int(inspect(big, "{{.Size}}")) > MAX_SIZE
    finally:
        docker("image", "rm", big, check=False)


@pytest.mark.parametrize("service", SERVICES)
def test_no_shell_and_only_the_service_files(service):
    files = engine.image_files(image(service))
    shells = [f for f in files if f.rstrip("/").rsplit("/", 1)[-1] in SHELLS]
    assert shells == []
    assert f"usr/share/sbom/{service}.cdx.json" in files and "usr/local/bin/service" in files
    executables = [f for f in files if f.startswith(("bin/", "sbin/", "usr/bin/", "usr/sbin/", "usr/local/bin/"))]
    assert executables == ["usr/local/bin/", "usr/local/bin/service"], executables
    # and running one fails
    proc = docker("run", "--rm", "--entrypoint", "/bin/sh", image(service), "-c", "true", check=False)
    assert proc.returncode != 0 and ("no such file" in proc.stderr or "not found" in proc.stderr), proc.stderr


def test_the_shell_check_fails_on_an_image_with_a_shell():
    # the local Envoy base (kyc-local/cc) has no shell either: the builder image does
    files = engine.image_files("kyc-local/rust:1.95-bookworm")
    assert any(f.rstrip("/").rsplit("/", 1)[-1] in SHELLS for f in files)


@pytest.mark.parametrize("service", SERVICES)
def test_labels_and_settings(service):
    config = inspect(image(service))["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == service
    assert labels["org.opencontainers.image.version"] == TAG
    assert labels["org.opencontainers.image.revision"] == engine.git_revision()
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.base.name"] == engine.LOCAL_RUNTIME
    assert labels["io.github.banknext.kyc.sbom"] == f"/usr/share/sbom/{service}.cdx.json"
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/usr/local/bin/service"]
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/service", "healthcheck"]


# ---- running ----------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(l.split(":\t", 1) for l in lines if ":\t" in l)


@pytest.mark.parametrize("service", SERVICES)
def test_serves_probes_and_swagger_as_65532_read_only_without_capabilities(service, containers):
    c = run_container(image(service), env={"KYC_GATEWAY_URL": "http://127.0.0.1:9"})
    containers.append(c)
    wait_ready(c)
    assert get(c.url("/healthz")).status == 200
    root = get(c.url("/"))
    assert root.status in (301, 302, 303, 307, 308) and root.headers["location"].endswith("/swagger-ui/")
    ui = get(c.url("/swagger-ui/"))
    assert ui.status == 200 and b"swagger-ui" in ui.body
    spec = get(c.url("/api-docs/openapi.json"))
    assert spec.status == 200 and spec.json()["openapi"].startswith("3.1")
    version = get(c.url("/version")).json()
    assert json.dumps(version)  # answers JSON
    host = inspect(c.name, kind="container")["HostConfig"]
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
    status = proc_status(c.pid())
    assert status["Uid"].split() == ["65532"] * 4 and status["Gid"].split() == ["65532"] * 4
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    # the docker health check (the binary probing its own /readyz) turns healthy
    eventually(f"{service} healthy", lambda: inspect(c.name, "{{.State.Health.Status}}", kind="container") == "healthy",
               deadline=30)


def test_the_user_and_capability_checks_fail_when_not_dropped(containers):
    c = run_container(image("kyc-credit-check-basic"), hardened=False, args=("--user", "0:0"))
    containers.append(c)
    wait_ready(c)
    status = proc_status(c.pid())
    assert status["Uid"].split()[0] == "0" and int(status["CapEff"], 16) != 0


def test_healthcheck_command_fails_when_nothing_answers():
    proc = docker("run", "--rm", "--read-only", "--cap-drop", "ALL", image("kyc-credit-check-basic"),
                  "healthcheck", "http://127.0.0.1:9/readyz", check=False)
    assert proc.returncode == 1 and "127.0.0.1:9" in proc.stderr, proc.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_bad_configuration_exits_non_zero_naming_the_variable(service):
    name = engine.unique("kyc-test-badconf")
    docker("run", "--name", name, "-e", "KYC_PORT=eighty", image(service), check=False, timeout=60)
    try:
        code = int(inspect(name, "{{.State.ExitCode}}", kind="container"))
        logs = engine.Container(name).logs()
        assert code == 2, logs
        assert "KYC_PORT" in logs and "eighty" in logs
    finally:
        docker("rm", "-f", name, check=False)


def test_stop_under_load_loses_no_request(containers):
    """docker stop (SIGTERM) while 8 clients load a scorer whose answers take 50 ms: readiness turns
    503 (the clients, like a load balancer, stop sending new requests), every request in flight gets
    its 200, the process exits 0 before docker's kill timeout. The drain is measured."""
    drain_ms = 1500
    c = run_container(image("kyc-credit-check-basic"),
                      env={"KYC_DRAIN_MS": str(drain_ms), "KYC_CHAOS_DELAY_MS": "50"}, args=("--stop-timeout", "20"))
    containers.append(c)
    wait_ready(c)
    stop = threading.Event()
    lock = threading.Lock()
    counts = {"sent": 0, "ok": 0, "lost": 0}
    errors: list[str] = []

    def client():
        while not stop.is_set():
            with lock:
                counts["sent"] += 1
            try:
                r = get(c.url("/credit-check/basic?demo=alice"), timeout=10)
                ok = r.status == 200
            except Exception as e:  # noqa: BLE001 - a lost request
                ok, r = False, e
            with lock:
                counts["ok" if ok else "lost"] += 1
                if not ok:
                    errors.append(repr(r))

    def balancer():  # stops the clients when readiness says so
        while not stop.is_set():
            try:
                if get(c.url("/readyz"), timeout=2).status != 200:
                    stop.set()
            except Exception:  # noqa: BLE001 - the listener is gone: stop too
                stop.set()
            time.sleep(0.02)

    threads = [threading.Thread(target=client) for _ in range(8)] + [threading.Thread(target=balancer)]
    for t in threads:
        t.start()
    eventually("load running", lambda: counts["ok"] > 50, deadline=20)
    started = time.monotonic()
    docker("stop", c.name, timeout=60)
    stopped = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join(timeout=15)
    code = int(inspect(c.name, "{{.State.ExitCode}}", kind="container"))
    report = {**counts, "stop_seconds": round(stopped, 2), "drain_ms": drain_ms}
    print(f"docker stop under load: {report}")
    assert code == 0, c.logs()
    assert counts["lost"] == 0, (report, errors[:5])
    assert drain_ms / 1000 <= stopped < 20, report


# ---- names and TLS inside a container ------------------------------------------------------------


def test_the_aggregator_resolves_kubernetes_service_names(network, containers):
    alias = "kyc-credit-check-basic.default.svc.cluster.local"
    scorer = run_container(image("kyc-credit-check-basic"), network=network, aliases=(alias,), publish=False)
    containers.append(scorer)
    agg = run_container(image("kyc-aggregator-mgt"), network=network, env={"KYC_GATEWAY_URL": f"http://{alias}:8080"})
    containers.append(agg)
    wait_ready(agg)
    r = eventually("a report through the scorer's name",
                   lambda: (a := get(agg.url("/kyc/v1/customer?type=basicReport&demo=alice"))).status == 200 and a)
    assert r.json()["servedBy"]["service"] == "kyc-credit-check-basic"
    # a name nothing answers to: an error (502, or 504 when the lookup times out), proving the first resolved
    bad = run_container(image("kyc-aggregator-mgt"), network=network,
                        env={"KYC_GATEWAY_URL": "http://kyc-nowhere.default.svc.cluster.local:8080"})
    containers.append(bad)
    wait_ready(bad)
    answer = get(bad.url("/kyc/v1/customer?type=basicReport&demo=alice"), timeout=15)
    assert answer.status in (502, 504) and "errorCode" in answer.json(), answer


def certificates(pem: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)


def test_the_ca_bundle_is_debians_mozilla_roots_only():
    bundle = engine.image_file(image("kyc-aggregator-mgt"), "/etc/ssl/certs/ca-certificates.crt").decode()
    certs = set(certificates(bundle))
    assert len(certs) >= 100
    # nothing of this machine's own store that Debian's package does not ship (e.g. a proxy's CA)
    host = set(certificates(Path("/etc/ssl/certs/ca-certificates.crt").read_text()))
    mozilla = set()
    for f in Path("/usr/share/ca-certificates/mozilla").glob("*.crt"):
        mozilla |= set(certificates(f.read_text()))
    assert not (host - mozilla) & certs


def openssl(*args: str, cwd: Path):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def test_tls_uses_the_image_roots(network, containers, tmp_path):
    """The aggregator calls its gateway over HTTPS: an Envoy (kyc-local/envoy) terminating TLS with a
    certificate of a test CA. With the image's own bundle the call fails (unknown issuer); with that
    bundle plus the test CA mounted at the same path it succeeds: the binary verifies, and its roots
    are the image's /etc/ssl/certs/ca-certificates.crt."""
    engine.require_image(engine.LOCAL_ENVOY)
    name = "tls-gateway.kyc.test"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kyc test CA",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=tmp_path)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", "tls.key", "-out", "tls.csr",
            cwd=tmp_path)
    (tmp_path / "ext").write_text(f"subjectAltName=DNS:{name}\n")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
            "-extfile", "ext", "-out", "tls.crt", cwd=tmp_path)
    for f in tmp_path.iterdir():
        f.chmod(0o644)
    tmp_path.chmod(0o755)  # Envoy runs as 65532
    scorer_alias = "kyc-credit-check-basic.default.svc.cluster.local"
    scorer = run_container(image("kyc-credit-check-basic"), network=network, aliases=(scorer_alias,), publish=False)
    containers.append(scorer)
    (tmp_path / "envoy.yaml").write_text(ENVOY_TLS.format(scorer=scorer_alias))
    gw = run_container(engine.LOCAL_ENVOY, network=network, aliases=(name,), publish=False,
                       mounts=(f"{tmp_path}:/tls:ro",), entry_args=("-c", "/tls/envoy.yaml", "--log-level", "warn"))
    containers.append(gw)
    url = f"https://{name}:8443"
    plain = run_container(image("kyc-aggregator-mgt"), network=network, env={"KYC_GATEWAY_URL": url})
    containers.append(plain)
    bundle = engine.image_file(image("kyc-aggregator-mgt"), "/etc/ssl/certs/ca-certificates.crt").decode()
    (tmp_path / "bundle.crt").write_text(bundle + (tmp_path / "ca.crt").read_text())
    (tmp_path / "bundle.crt").chmod(0o644)
    trusting = run_container(image("kyc-aggregator-mgt"), network=network, env={"KYC_GATEWAY_URL": url},
                             mounts=(f"{tmp_path / 'bundle.crt'}:/etc/ssl/certs/ca-certificates.crt:ro",))
    containers.append(trusting)
    wait_ready(plain)
    wait_ready(trusting)
    last = {}

    def over_tls():
        last["answer"] = a = get(trusting.url("/kyc/v1/customer?type=basicReport&demo=alice"))
        return a.status == 200 and a

    try:
        ok = eventually("a report over TLS", over_tls, deadline=30)
    except AssertionError:
        raise AssertionError((last.get("answer"), trusting.logs()[-1500:], gw.logs()[-1500:]))
    assert ok.json()["servedBy"]["service"] == "kyc-credit-check-basic"
    refused = get(plain.url("/kyc/v1/customer?type=basicReport&demo=alice"))
    assert refused.status == 502, refused.body
    assert re.search(r"certificate|UnknownIssuer|tls", plain.logs(), re.I), plain.logs()[-2000:]


ENVOY_TLS = """
static_resources:
  listeners:
  - name: tls
    address: {{socket_address: {{address: 0.0.0.0, port_value: 8443}}}}
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: {{filename: /tls/tls.crt}}
              private_key: {{filename: /tls/tls.key}}
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: tls
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: /}}
                route: {{cluster: scorer}}
  clusters:
  - name: scorer
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY
    load_assignment:
      cluster_name: scorer
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: {scorer}, port_value: 8080}}}}}}
"""


# ---- SBOM ------------------------------------------------------------------------------------------


def cargo_lock() -> dict[str, set[str]]:
    text = engine.repo_path("Cargo.lock").read_text()
    versions: dict[str, set[str]] = {}
    for name, version in re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', text):
        versions.setdefault(name, set()).add(version)
    return versions


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_carries_its_cyclonedx_sbom(service):
    label = inspect(image(service))["Config"]["Labels"]["io.github.banknext.kyc.sbom"]
    bom = json.loads(engine.image_file(image(service), label))
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5"
    components = {c["name"]: c["version"] for c in bom["components"]}
    lock = cargo_lock()
    for crate in ("axum", "tokio", "reqwest", "rustls", "serde", "utoipa"):
        assert crate in components, f"{crate} missing from the SBOM of {service}"
        assert components[crate] in lock[crate]
    for name, version in components.items():
        assert version in lock.get(name, set()), f"{name} {version} is not in Cargo.lock"
    # this binary's dependencies, not the workspace's: kyc-mesh's own (notify, the file watcher) are absent
    assert "notify" not in components and "kyc-mesh" not in components
    assert any(c.get("purl", "").startswith("pkg:cargo/tokio@") for c in bom["components"])
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(bom))
    assert error is None, error


def test_the_sbom_check_fails_on_a_broken_bom():
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    bad = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "tokio"}]}
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(bad)) is not None
