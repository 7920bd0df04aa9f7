"""networking/ against the fixed contract and the issue's requirements: names, labels, ports,
probes, security context, resources, graceful shutdown, configuration, routing policy, and the
scenario files' headers."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
import yaml

from conftest import NETWORKING, ROOT, scenario_files
import meshcheck

CONTRACT = {
    "kyc-aggregator-mgt": "v1",
    "kyc-credit-check-basic": "v1",
    "kyc-credit-check-advanced": "v2",
}
GATEWAY_URL = "http://istio-ingressgateway.istio-system.svc.cluster.local"


def find(objs, kind, name):
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind} {name}: found {len(hits)}"
    return hits[0]


def workspace_version() -> str:
    with open(ROOT / "Cargo.toml", "rb") as handle:
        return tomllib.load(handle)["workspace"]["package"]["version"]


def dockerfile_user() -> str:
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "docker" / "Dockerfile").read_text(), re.M)
    assert users, "docker/Dockerfile has no USER"
    return users[-1]


def container(deploy):
    containers = deploy["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(objs, deploy) -> dict[str, str]:
    c = container(deploy)
    env: dict[str, str] = {}
    for src in c.get("envFrom", []):
        env.update(find(objs, "ConfigMap", src["configMapRef"]["name"])["data"])
    env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
    return env


def test_original_file_names_are_kept():
    names = {p.name for p in meshcheck.yaml_files(NETWORKING)}
    for n in (
        "kyc-aggregator-mgt-k8-istio.yml",
        "kyc-credit-check-basic-k8-istio.yml",
        "kyc-credit-check-advanced-k8-istio.yml",
        "kyc-aggregator-mgt-istio-routing.yaml",
        "kyc-credit-check-istio-routing.yaml",
        # the case study's `kubectl apply -f <service>-destination-rule.yaml` lines
        "kyc-aggregator-mgt-destination-rule.yaml",
        "kyc-credit-check-basic-destination-rule.yaml",
        "kyc-credit-check-advanced-destination-rule.yaml",
    ):
        assert n in names, f"networking/{n} is missing (the article's kubectl apply names it)"
    for path in meshcheck.yaml_files(NETWORKING):
        kinds = {d["kind"] for d in yaml.safe_load_all(path.read_text()) if d}
        if kinds == {"DestinationRule"}:
            assert path.name.endswith("-destination-rule.yaml"), path.name


def test_istio_objects_use_networking_v1(base_objects):
    for o in base_objects:
        if "istio.io" in o["apiVersion"]:
            assert o["apiVersion"] in ("networking.istio.io/v1", "security.istio.io/v1"), o["metadata"]["name"]


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_service_account_service_deployment(base_objects, service):
    version = CONTRACT[service]
    find(base_objects, "ServiceAccount", service)
    svc = find(base_objects, "Service", service)
    assert svc["spec"]["selector"] == {"app": service}
    [port] = svc["spec"]["ports"]
    assert port["port"] == 8080 and port["name"] == "http" and port.get("appProtocol") == "http"
    assert port["targetPort"] == "http"

    deploy = find(base_objects, "Deployment", service)
    labels = {"app": service, "version": version}
    assert deploy["metadata"]["labels"] == labels
    assert deploy["spec"]["selector"]["matchLabels"] == labels
    assert deploy["spec"]["template"]["metadata"]["labels"] == labels
    pod = deploy["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == service
    c = container(deploy)
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["image"] == f"{service}:{workspace_version()}"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert env_of(base_objects, deploy)["KYC_SERVICE_VERSION"] == version


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_probes(base_objects, service):
    c = container(find(base_objects, "Deployment", service))
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "http" in {p["name"] for p in c["ports"]}


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_security_context(base_objects, service):
    deploy = find(base_objects, "Deployment", service)
    pod = deploy["spec"]["template"]["spec"]
    c = container(deploy)
    uid, gid = (int(x) for x in dockerfile_user().split(":"))
    for ctx in (pod["securityContext"], c["securityContext"]):
        assert ctx["runAsNonRoot"] is True
        assert ctx["runAsUser"] == uid and ctx["runAsGroup"] == gid
        assert ctx["runAsUser"] not in (0, 1337)  # 1337 is the Istio proxy's UID
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}


def quantity(q: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if q.endswith(suffix):
            return float(q[: -len(suffix)]) * factor
    return float(q)


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_resources_sized_for_a_rust_service(base_objects, service):
    res = container(find(base_objects, "Deployment", service))["resources"]
    for kind in ("requests", "limits"):
        assert set(res[kind]) == {"cpu", "memory"}
    assert quantity(res["requests"]["cpu"]) <= quantity(res["limits"]["cpu"]) <= 1
    assert quantity(res["requests"]["memory"]) <= quantity(res["limits"]["memory"]) <= 256 * 2**20


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_graceful_shutdown_and_sidecar_start(base_objects, service):
    deploy = find(base_objects, "Deployment", service)
    env = env_of(base_objects, deploy)
    drain_s = int(env["KYC_DRAIN_MS"]) / 1000
    assert drain_s >= 3  # long enough for endpoint removal to propagate
    grace = deploy["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    outbound_s = int(env.get("KYC_OUTBOUND_TIMEOUT_MS", "3000")) / 1000
    assert grace >= drain_s + outbound_s + 5
    proxy = yaml.safe_load(deploy["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"])
    assert proxy["holdApplicationUntilProxyStarts"] is True
    assert deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_aggregator_gets_the_gateway_url_from_a_configmap(base_objects):
    deploy = find(base_objects, "Deployment", "kyc-aggregator-mgt")
    [src] = container(deploy)["envFrom"]
    data = find(base_objects, "ConfigMap", src["configMapRef"]["name"])["data"]
    assert data["KYC_GATEWAY_URL"] == GATEWAY_URL
    assert all(isinstance(v, str) for v in data.values())


def routes(vs):
    return {r["match"][0]["uri"]["prefix"]: r for r in vs["spec"]["http"]}


def seconds(duration: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", duration)
    assert m, duration
    return float(m[1]) / (1000 if m[2] == "ms" else 1)


def test_gateway_and_aggregator_route(base_objects):
    gw = find(base_objects, "Gateway", "kyc")
    assert gw["spec"]["selector"] == {"istio": "ingressgateway"}
    [server] = gw["spec"]["servers"]
    assert server["port"]["number"] == 80 and server["port"]["protocol"] == "HTTP" and server["hosts"] == ["*"]
    vs = find(base_objects, "VirtualService", "kyc")
    assert vs["spec"]["gateways"] == ["kyc"] and vs["spec"]["hosts"] == ["*"]
    prefixes = [m["uri"]["prefix"] for r in vs["spec"]["http"] for m in r["match"]]
    assert prefixes == ["/kyc/v1/customer", "/ingress/kyc/v1/customer"]
    dest = vs["spec"]["http"][0]["route"][0]["destination"]
    assert dest == {"host": "kyc-aggregator-mgt", "subset": "v1", "port": {"number": 8080}}


def test_credit_check_routes_the_canary_with_timeout_and_retries(base_objects):
    vs = find(base_objects, "VirtualService", "kyc-credit-check")
    assert vs["spec"]["gateways"] == ["kyc"]
    r = routes(vs)
    assert set(r) == {"/credit-check/basic", "/credit-check/advanced", "/credit-check/report"}
    assert [d["destination"]["host"] for d in r["/credit-check/basic"]["route"]] == ["kyc-credit-check-basic"]
    assert [d["destination"]["host"] for d in r["/credit-check/advanced"]["route"]] == ["kyc-credit-check-advanced"]
    split = {d["destination"]["host"]: d["weight"] for d in r["/credit-check/report"]["route"]}
    assert split == {"kyc-credit-check-basic": 50, "kyc-credit-check-advanced": 50}
    aggregator_env = env_of(base_objects, find(base_objects, "Deployment", "kyc-aggregator-mgt"))
    outbound_s = int(aggregator_env["KYC_OUTBOUND_TIMEOUT_MS"]) / 1000
    for prefix, route in r.items():
        timeout = seconds(route["timeout"])
        assert timeout < outbound_s, prefix  # the mesh gives up before the aggregator does
        retries = route["retries"]
        assert retries["attempts"] >= 2
        assert seconds(retries["perTryTimeout"]) * 2 <= timeout
        assert {"5xx", "reset", "connect-failure"} <= set(retries["retryOn"].split(","))


@pytest.mark.parametrize("service", sorted(CONTRACT))
def test_destination_rules_have_pool_and_outlier_detection(base_objects, service):
    dr = find(base_objects, "DestinationRule", service)
    assert dr["spec"]["subsets"] == [{"name": CONTRACT[service], "labels": {"version": CONTRACT[service]}}]
    policy = dr["spec"]["trafficPolicy"]
    assert policy["connectionPool"]["tcp"]["maxConnections"] > 0
    assert policy["connectionPool"]["http"]["http1MaxPendingRequests"] > 0
    assert policy["outlierDetection"]["consecutive5xxErrors"] > 0
    assert 0 < policy["outlierDetection"]["maxEjectionPercent"] <= 100


# ---- scenarios ---------------------------------------------------------------------------------


def test_the_expected_scenarios_exist():
    names = {p.name for p in scenario_files()}
    expected = {
        "canary-100-0.yaml", "canary-90-10.yaml", "canary-50-50.yaml", "canary-0-100.yaml",
        "header-routing.yaml", "fault-delay-advanced.yaml", "fault-abort-advanced.yaml",
        "timeouts-retries.yaml", "no-retries.yaml", "circuit-breaking.yaml", "mirroring.yaml",
        "mtls-strict.yaml", "gateway-api.yaml", "jwt-auth.yaml", "ambient.yaml",
    }
    assert expected <= names


@pytest.mark.parametrize("scenario", scenario_files(), ids=lambda p: p.name)
def test_scenario_header(scenario):
    text = scenario.read_text()
    header = text.split("\napiVersion:", 1)[0]
    assert header.startswith("# Scenario:")
    assert re.search(r"^# Apply: +kubectl apply -f networking/scenarios/" + re.escape(scenario.name), header, re.M)
    assert re.search(r"^# Revert: ", header, re.M)
    assert len(re.findall(r"^# local-mesh: \S.+$", header, re.M)) == 1


@pytest.mark.parametrize("scenario", scenario_files(), ids=lambda p: p.name)
def test_scenario_replaces_objects_of_the_same_name(base_objects, scenario):
    base_keys = {meshcheck.key_of(o) for o in base_objects}
    for o in meshcheck.load_file(scenario):
        replaces = meshcheck.key_of(o) in base_keys
        new_kind = meshcheck.group_of(o) in ("security.istio.io", "gateway.networking.k8s.io")
        assert replaces or new_kind, f"{o['kind']} {o['metadata']['name']} neither replaces nor adds a scenario-only kind"


@pytest.mark.parametrize("basic,advanced", [(100, 0), (90, 10), (50, 50), (0, 100)])
def test_canary_steps(base_objects, basic, advanced):
    [vs] = meshcheck.load_file(NETWORKING / "scenarios" / f"canary-{basic}-{advanced}.yaml")
    split = {d["destination"]["host"]: d["weight"] for d in routes(vs)["/credit-check/report"]["route"]}
    assert split == {"kyc-credit-check-basic": basic, "kyc-credit-check-advanced": advanced}
    # apart from the weights, the same VirtualService as networking/
    original = find(base_objects, "VirtualService", "kyc-credit-check")
    for d, o in zip(routes(vs)["/credit-check/report"]["route"], routes(original)["/credit-check/report"]["route"]):
        d["weight"] = o["weight"]
    assert vs == original


def test_header_routing_sends_testers_to_advanced():
    [vs] = meshcheck.load_file(NETWORKING / "scenarios" / "header-routing.yaml")
    testers = next(r for r in vs["spec"]["http"] if r["match"][0].get("headers"))
    assert testers["match"][0]["headers"] == {"x-kyc-tester": {"exact": "advanced"}}
    assert testers["route"][0]["destination"]["host"] == "kyc-credit-check-advanced"
    order = [r["name"] for r in vs["spec"]["http"]]
    assert order.index(testers["name"]) < order.index("credit-check-report")


def test_mirroring_serves_basic_and_shadows_advanced():
    [vs] = meshcheck.load_file(NETWORKING / "scenarios" / "mirroring.yaml")
    report = routes(vs)["/credit-check/report"]
    assert [d["destination"]["host"] for d in report["route"]] == ["kyc-credit-check-basic"]
    assert report["mirror"]["host"] == "kyc-credit-check-advanced"
    assert report["mirrorPercentage"]["value"] == 100


def test_ambient_scenario_moves_the_namespace_to_ambient_with_a_waypoint_for_the_canary(base_objects):
    objs = meshcheck.load_file(NETWORKING / "scenarios" / "ambient.yaml")
    ns = find(objs, "Namespace", "default")
    # kubectl apply drops the label networking/ set: no sidecar for new pods.
    assert ns["metadata"]["labels"] == {"istio.io/dataplane-mode": "ambient"}
    waypoint = find(objs, "Gateway", "waypoint")
    assert waypoint["spec"]["gatewayClassName"] == "istio-waypoint"
    assert waypoint["spec"]["listeners"] == [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]
    service = find(objs, "Service", "kyc-credit-check-basic")
    assert service["metadata"]["labels"]["istio.io/use-waypoint"] == "waypoint"
    # apart from the label, networking/'s Service
    original = find(base_objects, "Service", "kyc-credit-check-basic")
    assert service["spec"] == original["spec"]
    route = find(objs, "HTTPRoute", "kyc-credit-check-canary")
    assert route["spec"]["parentRefs"] == [{"group": "", "kind": "Service", "name": "kyc-credit-check-basic", "port": 8080}]
    split = {b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}
    assert split == {"kyc-credit-check-basic": 50, "kyc-credit-check-advanced": 50}
    config = find(objs, "ConfigMap", "kyc-aggregator-mgt-config")
    assert config["data"]["KYC_GATEWAY_URL"] == "http://kyc-credit-check-basic.default.svc.cluster.local:8080"


def test_mtls_scenario_allows_only_the_ingress_gateway():
    objs = meshcheck.load_file(NETWORKING / "scenarios" / "mtls-strict.yaml")
    pa = find(objs, "PeerAuthentication", "default")
    assert pa["spec"]["mtls"]["mode"] == "STRICT"
    for scorer in ("kyc-credit-check-basic", "kyc-credit-check-advanced"):
        ap = find(objs, "AuthorizationPolicy", scorer)
        assert ap["spec"]["selector"]["matchLabels"] == {"app": scorer}
        assert ap["spec"]["action"] == "ALLOW"
        principals = [p for r in ap["spec"]["rules"] for f in r["from"] for p in f["source"]["principals"]]
        assert principals == ["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]


def test_jwt_auth_scenario_verifies_tokens_at_the_aggregator_and_keeps_the_probes_open():
    objs = meshcheck.load_file(NETWORKING / "scenarios" / "jwt-auth.yaml")
    aggregator = {"app": "kyc-aggregator-mgt"}
    [ra] = [o for o in objs if o["kind"] == "RequestAuthentication"]
    # The aggregator's workload: both the gateway URL and a direct call reach its sidecar.
    assert ra["spec"]["selector"]["matchLabels"] == aggregator
    [rule] = ra["spec"]["jwtRules"]
    assert rule["issuer"] == "kyc-demo@banknext.example" and rule["audiences"] == ["kyc-api"]
    assert rule["forwardOriginalToken"] is False and "jwksUri" not in rule
    assert {"header": "x-kyc-subject", "claim": "sub"} in rule["outputClaimToHeaders"]
    jwks = json.loads(rule["jwks"])
    assert [k["kid"] for k in jwks["keys"]] == ["kyc-demo-1", "kyc-demo-2"]
    assert all(k["kty"] == "RSA" and k["alg"] == "RS256" and "d" not in k for k in jwks["keys"])
    policies = {o["metadata"]["name"]: o for o in objs if o["kind"] == "AuthorizationPolicy"}
    assert all(p["spec"]["selector"]["matchLabels"] == aggregator and p["spec"]["action"] == "ALLOW"
               for p in policies.values())
    [open_rule] = policies["kyc-aggregator-mgt-open"]["spec"]["rules"]
    assert "from" not in open_rule
    open_paths = open_rule["to"][0]["operation"]["paths"]
    for path in ("/healthz", "/readyz", "/version", "/metrics", "/swagger-ui/*", "/api-docs/*"):
        assert path in open_paths
    assert not any(p.startswith("/kyc") or p.startswith("/ingress") for p in open_paths)
    [read] = policies["kyc-aggregator-mgt-read"]["spec"]["rules"]
    assert read["from"][0]["source"]["requestPrincipals"] == ["*"]
    assert read["to"][0]["operation"] == {"methods": ["GET"], "paths": ["/kyc/v1/customer", "/ingress/kyc/v1/customer"]}
    write = policies["kyc-aggregator-mgt-write"]["spec"]["rules"]
    claims = {(r["when"][0]["key"], tuple(r["when"][0]["values"])) for r in write}
    assert claims == {("request.auth.claims[scope]", ("kyc.write",)), ("request.auth.claims[groups]", ("kyc-officers",))}
    assert all(r["to"][0]["operation"]["methods"] == ["POST"] and r["from"][0]["source"]["requestPrincipals"] == ["*"]
               for r in write)


def test_gateway_api_scenario_weights_and_gateway_url():
    objs = meshcheck.load_file(NETWORKING / "scenarios" / "gateway-api.yaml")
    route = find(objs, "HTTPRoute", "kyc-credit-check")
    report = next(r for r in route["spec"]["rules"] if r["matches"][0]["path"]["value"] == "/credit-check/report")
    assert {b["name"]: b["weight"] for b in report["backendRefs"]} == {
        "kyc-credit-check-basic": 50, "kyc-credit-check-advanced": 50,
    }
    gw = find(objs, "Gateway", "kyc-gateway")
    cm = find(objs, "ConfigMap", "kyc-aggregator-mgt-config")
    # Istio names the Service of a Gateway API gateway "<gateway>-<class>"
    assert cm["data"]["KYC_GATEWAY_URL"] == f"http://{gw['metadata']['name']}-{gw['spec']['gatewayClassName']}.default.svc.cluster.local"
