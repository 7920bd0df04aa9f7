"""Strict schema validation of every YAML document under networking/ (including scenarios/).

Kubernetes kinds: kubernetes-validate (PyPI), Kubernetes 1.32 schemas, strict (unknown fields
are errors). Istio and Gateway API kinds: schema_check.mjs, with @kubernetes-models/istio and
@kubernetes-models/gateway-api (npm): the CRD schema plus an unknown-field check.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT, all_yaml_files, run_schema_check

K8S_VERSION = "1.32.0"


def k8s_documents():
    for path in all_yaml_files():
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is None:
                continue
            api = str(doc.get("apiVersion", ""))
            group = api.split("/", 1)[0] if "/" in api else ""
            if "." not in group:  # core and built-in groups: v1, apps/v1, policy/v1 ...
                yield pytest.param(doc, id=f"{path.relative_to(ROOT)}#{i}-{doc.get('kind')}")


def k8s_errors(doc: dict) -> list[str]:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'/'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no Kubernetes {K8S_VERSION} schema for {doc.get('apiVersion')} {doc.get('kind')}"]
    return []


def test_there_is_something_to_validate():
    names = {p.name for p in all_yaml_files()}
    assert "kyc-credit-check-istio-routing.yaml" in names
    assert len(list(k8s_documents())) >= 9


@pytest.mark.parametrize("doc", list(k8s_documents()))
def test_kubernetes_kind_is_valid_strictly(doc):
    assert k8s_errors(doc) == []


@pytest.fixture(scope="module")
def crd_report():
    return run_schema_check(all_yaml_files())


def test_every_document_parses_and_has_a_validator(crd_report):
    files = {str(p) for p in all_yaml_files()}
    assert {r["file"] for r in crd_report} == files
    for r in crd_report:
        assert r["status"] in ("ok", "skipped"), r
        if r["status"] == "skipped":  # a built-in kind: validated by kubernetes-validate above
            group = r["apiVersion"].split("/", 1)[0] if "/" in r["apiVersion"] else ""
            assert "." not in group, r


def test_istio_and_gateway_api_objects_are_valid_strictly(crd_report):
    checked = [r for r in crd_report if r["status"] != "skipped"]
    kinds = {(r["apiVersion"], r["kind"]) for r in checked}
    assert ("networking.istio.io/v1", "VirtualService") in kinds
    assert ("networking.istio.io/v1", "DestinationRule") in kinds
    assert ("networking.istio.io/v1", "Gateway") in kinds
    assert ("security.istio.io/v1", "AuthorizationPolicy") in kinds
    assert ("security.istio.io/v1", "RequestAuthentication") in kinds
    assert ("gateway.networking.k8s.io/v1", "HTTPRoute") in kinds
    problems = [f"{r['file']}#{r['index']} {r['kind']} {r['name']}: {r['errors']}" for r in checked if r["errors"]]
    assert problems == []


# ---- the validators reject what they should (so the checks above can fail) -----------------

BAD_DOCS = {
    "unknown-field-in-route": """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: x}
        spec:
          hosts: ["*"]
          http:
            - route:
                - destination: {host: a, subset: v1}
                  wieght: 50
    """,
    "unknown-top-level-spec-field": """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: x}
        spec:
          host: a
          subsetz: []
    """,
    "wrong-type": """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: x}
        spec:
          hosts: ["*"]
          http:
            - route:
                - destination: {host: a}
                  weight: "fifty"
    """,
    "bad-enum": """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: x}
        spec:
          mtls: {mode: STRICTEST}
    """,
    "unknown-kind": """
        apiVersion: networking.istio.io/v1
        kind: VirtualServise
        metadata: {name: x}
        spec: {}
    """,
    "httproute-unknown-field": """
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata: {name: x}
        spec:
          parentRefs: [{name: g}]
          rules:
            - backendRefs: [{name: s, port: 8080, wieght: 1}]
    """,
    "duplicate-key": """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: x}
        metadata: {name: y}
        spec: {}
    """,
}


@pytest.mark.parametrize("name", sorted(BAD_DOCS))
def test_schema_check_rejects(tmp_path: Path, name: str):
    bad = tmp_path / f"{name}.yaml"
    bad.write_text(textwrap.dedent(BAD_DOCS[name]))
    [result] = run_schema_check([bad])
    assert result["status"] == "error" and result["errors"], result


def test_kubernetes_validate_rejects_unknown_and_mistyped_fields():
    deployment = yaml.safe_load(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: x}
        spec:
          selector: {matchLabels: {app: x}}
          template:
            metadata: {labels: {app: x}}
            spec:
              containers:
                - name: x
                  image: x
                  readinessProbe: {httpGet: {path: /readyz, port: http}, periodSecond: 5}
        """
    )
    assert any("periodSecond" in e for e in k8s_errors(deployment))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": 1, "port": "http"}}
    assert k8s_errors(deployment) != []
