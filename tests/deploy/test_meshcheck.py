"""Cross-reference checks (istioctl analyze style) on networking/ and every scenario, proof that
they fail on deliberately broken copies, and that meshcheck.py and `kyc-mesh check` (two
independent analyzers) agree on every problem both look at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

from conftest import HERE, NETWORKING, ROOT, scenario_files
import meshcheck


def test_networking_fits_together(base_objects):
    assert meshcheck.analyze(base_objects) == []


def test_networking_has_the_canary(base_objects):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in base_objects}
    assert ("Gateway", "kyc") in kinds
    assert ("VirtualService", "kyc") in kinds
    assert ("VirtualService", "kyc-credit-check") in kinds
    for name in ("kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced"):
        assert ("DestinationRule", name) in kinds


@pytest.mark.parametrize("scenario", scenario_files(), ids=lambda p: p.name)
def test_scenario_applied_on_networking_fits_together(base_objects, scenario: Path):
    objs = meshcheck.overlay(base_objects, meshcheck.load_file(scenario))
    assert meshcheck.analyze(objs) == []


# ---- deliberately broken copies of networking/ -----------------------------------------------


def edit(directory: Path, kind: str, name: str, change: Callable[[dict], None]) -> None:
    """Apply change() to the object kind/name in a copy of networking/ and write it back."""
    for path in meshcheck.yaml_files(directory):
        docs = list(yaml.safe_load_all(path.read_text()))
        hit = [d for d in docs if d and d.get("kind") == kind and d["metadata"]["name"] == name]
        if hit:
            change(hit[0])
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            return
    raise AssertionError(f"{kind} {name} not found")


def report_route(vs: dict) -> dict:
    return next(r for r in vs["spec"]["http"] if r["match"][0]["uri"]["prefix"] == "/credit-check/report")


def set_dr_subset_version(dr):
    dr["spec"]["subsets"][0]["labels"]["version"] = "v3"


BREAKAGES = {
    "unknown-subset": (
        "VirtualService", "kyc-credit-check",
        lambda vs: report_route(vs)["route"][1]["destination"].update(subset="v3"),
        "IST0101", "subset",
    ),
    "unknown-gateway": (
        "VirtualService", "kyc", lambda vs: vs["spec"].update(gateways=["kyc-gw"]), "IST0101", "gateway",
    ),
    "unknown-host": (
        "VirtualService", "kyc-credit-check",
        lambda vs: report_route(vs)["route"][0]["destination"].update(host="kyc-credit-check-basik"),
        "IST0101", "host not found",
    ),
    "unknown-port": (
        "VirtualService", "kyc",
        lambda vs: vs["spec"]["http"][0]["route"][0]["destination"].update(port={"number": 9090}),
        "IST0101", "9090",
    ),
    "gateway-selector-matches-nothing": (
        "Gateway", "kyc", lambda gw: gw["spec"].update(selector={"istio": "ingress"}), "IST0101", "selector",
    ),
    "subset-selects-no-pods": (
        "DestinationRule", "kyc-credit-check-advanced", set_dr_subset_version, "IST0173", "v3",
    ),
    "dr-host-not-a-service": (
        "DestinationRule", "kyc-credit-check-basic",
        lambda dr: dr["spec"].update(host="kyc-credit-check-basics"), "IST0174", "basics",
    ),
    "vs-host-not-in-gateway": (
        "Gateway", "kyc", lambda gw: gw["spec"]["servers"][0].update(hosts=["kyc.example.com"]), "IST0132", "kyc.example.com",
    ),
    "gateway-port-not-exposed": (
        "Gateway", "kyc", lambda gw: gw["spec"]["servers"][0]["port"].update(number=8081), "IST0162", "8081",
    ),
    "weights-not-100": (
        "VirtualService", "kyc-credit-check",
        lambda vs: report_route(vs)["route"][1].update(weight=40), "KYC0001", "90",
    ),
    "port-name-not-a-protocol": (
        "Service", "kyc-credit-check-basic",
        lambda svc: (svc["spec"]["ports"][0].update(name="web"), svc["spec"]["ports"][0].pop("appProtocol")),
        "IST0118", "web",
    ),
    "service-selects-no-pods": (
        "Service", "kyc-aggregator-mgt", lambda svc: svc["spec"].update(selector={"app": "kyc-aggregator"}), "KYC0002", "selects no pods",
    ),
    "service-target-port-unknown": (
        "Service", "kyc-aggregator-mgt", lambda svc: svc["spec"]["ports"][0].update(targetPort="web"), "KYC0002", "targetPort",
    ),
    "pod-version-label-changed": (
        "Deployment", "kyc-credit-check-basic",
        lambda d: d["spec"]["template"]["metadata"]["labels"].update(version="v9"), "IST0173", "v1",
    ),
}


@pytest.fixture
def broken_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "networking"
    copy.mkdir()
    for path in meshcheck.yaml_files(NETWORKING):
        shutil.copy(path, copy / path.name)
    return copy


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_copy_is_caught(broken_copy: Path, breakage: str):
    kind, name, change, code, needle = BREAKAGES[breakage]
    assert meshcheck.analyze(meshcheck.load_dir(broken_copy)) == []  # the copy starts clean
    edit(broken_copy, kind, name, change)
    findings = meshcheck.analyze(meshcheck.load_dir(broken_copy))
    assert any(f.code == code and needle in str(f) for f in findings), [str(f) for f in findings]


def test_duplicate_object_is_caught(broken_copy: Path):
    shutil.copy(broken_copy / "kyc-credit-check-istio-routing.yaml", broken_copy / "copy-of-routing.yaml")
    findings = meshcheck.analyze(meshcheck.load_dir(broken_copy))
    assert [f.code for f in findings] == ["KYC0004"]


def test_scenarios_are_not_applied_with_the_directory():
    # kubectl apply -f networking/ does not recurse: scenarios must stay in the subfolder.
    assert all(p.parent == NETWORKING for p in meshcheck.yaml_files(NETWORKING))
    assert not any(p.name.startswith(("canary-", "mirroring")) for p in meshcheck.yaml_files(NETWORKING))


def test_cli_exit_status(broken_copy: Path):
    cli = [sys.executable, str(HERE / "meshcheck.py")]
    ok = subprocess.run([*cli, str(NETWORKING)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    edit(broken_copy, "VirtualService", "kyc", lambda vs: vs["spec"].update(gateways=["nope"]))
    bad = subprocess.run([*cli, str(broken_copy)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "IST0101" in bad.stdout and "nope" in bad.stdout


# ---- the two analyzers agree ------------------------------------------------------------------

# The codes both analyzers report (see meshcheck.py's docstring); the others are meshcheck's alone
# (cluster-side checks the local mesh has no use for).
SHARED_CODES = {"IST0101", "IST0127", "IST0173", "IST0174", "KYC0001"}


def kyc_mesh() -> str:
    found = os.environ.get("KYC_MESH") or str(ROOT / "target" / "debug" / "kyc-mesh")
    assert Path(found).is_file(), f"{found} not found: build it first (cargo build -p kyc-mesh; scripts/test.sh does) or set KYC_MESH"
    return found


def kyc_mesh_codes(networking: Path, scenario: Path | None = None) -> set[str]:
    cmd = [kyc_mesh(), "--networking", str(networking)]
    if scenario:
        cmd += ["--scenario", str(scenario)]
    out = subprocess.run([*cmd, "check"], capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stdout + out.stderr
    return set(re.findall(r"\((IST\d{4}|KYC\d{4}) \w+\)", out.stdout))


def meshcheck_codes(objects: list[dict]) -> set[str]:
    return {f.code for f in meshcheck.analyze(objects)} & SHARED_CODES


@pytest.mark.parametrize("scenario", [None, *scenario_files()], ids=lambda p: p.name if p else "networking")
def test_both_analyzers_agree_on_networking_and_every_scenario(base_objects, scenario):
    objects = meshcheck.overlay(base_objects, meshcheck.load_file(scenario)) if scenario else base_objects
    assert meshcheck_codes(objects) == kyc_mesh_codes(NETWORKING, scenario) == set()


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_both_analyzers_agree_on_every_broken_copy(broken_copy: Path, breakage: str):
    kind, name, change, code, _ = BREAKAGES[breakage]
    edit(broken_copy, kind, name, change)
    ours = meshcheck_codes(meshcheck.load_dir(broken_copy))
    theirs = kyc_mesh_codes(broken_copy)
    assert ours == theirs, f"meshcheck.py {sorted(ours)} vs kyc-mesh check {sorted(theirs)}"
    if code in SHARED_CODES:
        assert code in theirs  # the comparison is not vacuous


def test_the_comparison_reads_kyc_mesh_codes(tmp_path: Path):
    copy = tmp_path / "networking"
    copy.mkdir()
    for path in meshcheck.yaml_files(NETWORKING):
        shutil.copy(path, copy / path.name)
    edit(copy, "VirtualService", "kyc-credit-check", lambda vs: report_route(vs)["route"][1].update(weight=40))
    assert kyc_mesh_codes(copy) == {"KYC0001"}
