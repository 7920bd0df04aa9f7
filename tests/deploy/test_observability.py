"""Observability on the cluster, without a cluster: the pod templates expose /metrics to Istio's metrics
merging, the Grafana dashboard is a well-formed dashboard whose every query Prometheus' own parser
accepts (`promtool check rules`), and so is every PromQL query of docs/observability.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from conftest import NETWORKING, ROOT

DASHBOARD = ROOT / "dashboards" / "kyc-canary.json"
SERVICES = ["kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced"]


def promtool() -> str:
    tool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    assert tool, "promtool is required: apt-get install prometheus (scripts/test.sh does) or set PROMTOOL"
    return tool


def check_queries(queries: list[str]) -> None:
    """Every query parses: promtool reads them as the expressions of recording rules."""
    assert queries
    rules = {"groups": [{"name": "kyc", "rules": [{"record": f"kyc:q{i}", "expr": q} for i, q in enumerate(queries)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(rules, handle)
    try:
        run = subprocess.run([promtool(), "check", "rules", handle.name], capture_output=True, text=True)
    finally:
        Path(handle.name).unlink()
    assert run.returncode == 0, run.stdout + run.stderr + "\n".join(queries)


def documented_queries(name: str) -> list[str]:
    guide = (ROOT / "docs" / "observability.md").read_text()
    block = re.search(rf"<!-- promql: {name} begin -->(.*?)<!-- promql: {name} end -->", guide, re.S)
    assert block, f"docs/observability.md has no promql {name} block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "```"))]


@pytest.mark.parametrize("block", ["local", "cluster"])
def test_documented_queries_parse(block):
    queries = documented_queries(block)
    assert len(queries) >= 3
    check_queries(queries)


def test_cluster_queries_read_istio_metrics_as_flagger_does():
    queries = documented_queries("cluster")
    assert any("istio_requests_total" in q for q in queries)
    assert any("istio_request_duration_milliseconds_bucket" in q for q in queries)
    assert all('reporter="destination"' in q for q in queries)


def test_dashboard_is_a_grafana_dashboard_with_valid_queries():
    dash = json.loads(DASHBOARD.read_text())
    for key in ["uid", "title", "panels", "schemaVersion"]:
        assert key in dash, key
    assert isinstance(dash["schemaVersion"], int)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    exprs = []
    for panel in dash["panels"]:
        for key in ["type", "title", "gridPos", "targets"]:
            assert key in panel, f"panel {panel.get('id')}: {key}"
        assert set(panel["gridPos"]) >= {"h", "w", "x", "y"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["refId"] and target["expr"]
            exprs.append(target["expr"])
    text = " ".join(exprs)
    for needed in ["istio_requests_total", "istio_request_duration_milliseconds_bucket", "histogram_quantile(0.99",
                   "histogram_quantile(0.50", "kyc_reports_total"]:
        assert needed in text, needed
    check_queries(exprs)


@pytest.mark.parametrize("service", SERVICES)
def test_pod_templates_expose_metrics_to_istio_metrics_merging(service):
    docs = [d for d in yaml.safe_load_all((NETWORKING / f"{service}-k8-istio.yml").read_text()) if d]
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    annotations = deploy["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    port = annotations["prometheus.io/port"]
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert int(port) in [p["containerPort"] for p in container["ports"]]


@pytest.mark.parametrize("service", SERVICES)
def test_traces_are_wired_commented_to_the_jaeger_addon(service):
    text = (NETWORKING / f"{service}-k8-istio.yml").read_text()
    commented = [line for line in text.splitlines() if "OTEL_EXPORTER_OTLP_ENDPOINT" in line]
    assert commented and all(line.strip().startswith("#") for line in commented), "off by default"
    assert "jaeger-collector.istio-system.svc.cluster.local:4318" in text
