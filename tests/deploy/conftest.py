"""Shared paths and helpers for tests/deploy (run with: bash tests/deploy/run.sh)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NETWORKING = ROOT / "networking"
SCENARIOS = NETWORKING / "scenarios"
SCRIPTS = ROOT / "scripts"

sys.path.insert(0, str(HERE))

import meshcheck  # noqa: E402


def networking_files() -> list[Path]:
    return meshcheck.yaml_files(NETWORKING)


def scenario_files() -> list[Path]:
    return sorted(SCENARIOS.glob("*.y*ml"))


def all_yaml_files() -> list[Path]:
    return sorted(p for p in NETWORKING.rglob("*") if p.suffix in (".yaml", ".yml"))


def run_schema_check(files: list[Path]) -> list[dict]:
    """Run schema_check.mjs (Istio + Gateway API strict validation) on files."""
    proc = subprocess.run(
        ["node", str(HERE / "schema_check.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        cwd=HERE,
        timeout=300,
    )
    assert proc.returncode == 0, f"schema_check.mjs failed:\n{proc.stderr}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def base_objects() -> list[dict]:
    return meshcheck.load_dir(NETWORKING)
