"""The instruction-count guard's verdicts (bench/instructions.py, run by `scripts/bench.sh --check`)
and its record (bench/instructions.json). The measurement itself runs in scripts/test.sh's last
step, with a self-test that a deliberate regression (Envoy tracing every request) is caught."""

from __future__ import annotations

import importlib.util
import json
import struct

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("instructions", ROOT / "bench" / "instructions.py")
instructions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(instructions)

RECORD = json.loads((ROOT / "bench" / "instructions.json").read_text())


def record(path=425_000, client=208_000, server=216_000, app=122_000):
    return {"paths": {"pair": {"path": path, "processes": {
        "envoy:kyc-aggregator-mgt": client, "envoy:kyc-credit-check-basic": server, "kyc-credit-check-basic": app}}}}


def measured(path=425_000, client=208_000, server=216_000, app=122_000):
    r = record(path, client, server, app)["paths"]["pair"]
    r["path_processes"] = ["envoy:kyc-aggregator-mgt", "envoy:kyc-credit-check-basic"]
    return {"pair": r}


def test_counts_within_the_threshold_pass():
    failed, lines = instructions.compare(measured(path=429_000, client=210_000), record(), 0.03, 0.03)
    assert not failed
    assert all(line.startswith("ok ") for line in lines), lines


def test_growth_above_the_threshold_fails_naming_the_path_the_growth_and_the_record():
    failed, lines = instructions.compare(measured(path=441_000, client=216_500), record(), 0.03, 0.03)
    assert failed
    path_line = next(line for line in lines if "pair path" in line)
    assert path_line.startswith("REGRESSION pair path (client sidecar (the aggregator's) + server sidecar (basic's))")
    assert "441,000 instructions/request, recorded 425,000 (+3.8%)" in path_line
    assert "threshold of +3%" in path_line
    assert any(line.startswith("REGRESSION pair: client sidecar") for line in lines), lines


def test_one_process_growing_fails_even_when_its_path_does_not():
    failed, lines = instructions.compare(measured(app=130_000), record(), 0.03, 0.03)
    assert failed
    assert [line.split(":")[0] for line in lines if line.startswith("REGRESSION")] == ["REGRESSION pair"]
    assert "basic scorer" in next(line for line in lines if line.startswith("REGRESSION"))


def test_a_big_drop_is_a_notice_not_a_failure():
    failed, lines = instructions.compare(measured(path=380_000, client=170_000), record(), 0.03, 0.03)
    assert not failed
    assert any(line.startswith("notice: pair path") and "stale" in line for line in lines), lines


def test_a_count_that_measured_nothing_fails():
    failed, lines = instructions.compare(measured(path=1_000, client=500, server=500), record(), 0.03, 0.03)
    assert failed
    assert any(line.startswith("FAILED pair path") and "measurement is broken" in line for line in lines), lines


def test_a_path_without_a_record_fails():
    failed, lines = instructions.compare(measured(), {"paths": {}}, 0.03, 0.03)
    assert failed
    assert lines == ["FAILED pair: no recorded counts; record them (scripts/bench.sh --check --update)"]


@pytest.mark.parametrize("linkage", ["static", "dynamic"])
def test_the_record_holds_both_paths_for_each_linkage(linkage):
    rec = RECORD["records"][linkage]
    assert rec["binaries"] == linkage and rec["runs"] >= 5 and rec["requests"] >= 500
    for name, path in instructions.PATHS.items():
        counts = rec["paths"][name]
        assert set(counts["processes"]) == set(path.services) | {f"envoy:{e}" for e in path.envoys}
        assert counts["path"] == pytest.approx(sum(counts["processes"][p] for p in path.path_procs), rel=0.01)
        # The threshold stands well clear of the spread the record was made with.
        for what, spread in counts["spread_pct"].items():
            assert spread / 100 < RECORD["threshold"]["regression"] / 2, (linkage, name, what, spread)


def elf(tmp_path, types):
    """A 64-bit ELF header with program headers of these types."""
    head = bytearray(64)
    head[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", head, 0x20, 64)
    struct.pack_into("<HH", head, 0x36, 56, len(types))
    table = b"".join(struct.pack("<I", t) + bytes(52) for t in types)
    f = tmp_path / "bin"
    f.write_bytes(bytes(head) + table)
    return f


def test_linkage_reads_the_elf_interpreter(tmp_path):
    assert instructions.linkage(elf(tmp_path, [6, 3, 1, 1])) == "dynamic"
    assert instructions.linkage(elf(tmp_path, [6, 1, 1, 2])) == "static"
    (tmp_path / "text").write_text("#!/bin/sh\n")
    with pytest.raises(instructions.Broken):
        instructions.linkage(tmp_path / "text")
