#!/usr/bin/env python3
"""Instructions per request of the chain and of the sidecar pair, counted by Valgrind's callgrind:
the regression guard of `scripts/bench.sh --check` (BENCHMARKS.md, "Instruction counts: the
regression guard (issue 20)").

An instruction count does not move with the machine's speed or load, unlike CPU time, so a
threshold on it does not flake. Two paths, each on its own `kyc-mesh up` (the mesh's real
configuration from networking/, on free loopback ports; no Prometheus, no trace receiver, no
dashboard):

  chain  POST /kyc/v1/customer?type=report on the aggregator -> the gateway Envoy -> the basic
         scorer (`up --no-sidecars --scenario canary-100-0`: every report is scored by basic, so
         the count is not a coin toss between two scorers); counted: the aggregator, the
         gateway's Envoy and the scorer.
  pair   POST /credit-check/basic (Host kyc-credit-check-basic:8080) on the aggregator's sidecar
         outbound listener -> mTLS -> the basic scorer's sidecar inbound -> the scorer (`up` with
         its sidecars: one client + one server proxy, as Istio's performance page measures);
         counted: both sidecar Envoys (the path's figure) and the scorer (its app, apart).

The counted processes run under `valgrind --tool=callgrind --instr-atstart=no`: `up` starts them
through wrappers (a --bin-dir of scripts beside symlinks to the real binaries, and an --envoy
script that wraps only the counted Envoys, picked by their bootstrap's directory); everything else
runs natively. Per run: instrumentation on, a warm-up, the counters zeroed, N sequential requests
on the warm-up's keep-alive connection, the counters dumped (the loaded window); then zeroed again
and dumped after an idle window as long as the loaded one. The idle window counts what the
processes do whatever the traffic (every Envoy probes each endpoint's /readyz every 500 ms, and
flushes its stats): it is subtracted, scaled to the loaded window's length, so a slower machine
(a longer window, more probes in it) does not raise the count:
instructions per request = (loaded - idle x loaded seconds / idle seconds) / N, per process.

The counts depend on how the services are linked (static: the images' binaries, what CI checks;
dynamic: `cargo build --profile perf`), so the record holds one set per linkage.

    bench/instructions.py [--bin-dir DIR] [--requests 1000] [--runs 1] [--paths chain,pair]
                          [--up-arg ARG]... [--traces] [--pause-ms MS] [--json FILE] [--keep DIR]
    bench/instructions.py --check [--self-test]   # compare with bench/instructions.json; exit 1 on a regression
    bench/instructions.py --update [--runs 5]     # re-record (for the linkage of --bin-dir's binaries)

Exit status: 0 ok, 1 a regression (or a failed self-test), 2 the measurement could not be made.
Needs valgrind (callgrind_control) and python3; nothing is built.
"""

import argparse
import datetime
import http.client
import json
import os
import pathlib
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
APPLICANT = (HERE / "applicant.json").read_bytes()
RECORD = HERE / "instructions.json"
SERVICES = ("kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced")
# Defaults of the record's "threshold": fail above the record x (1 + regression), a notice below
# the record x (1 - stale). Set from the run-to-run spread (BENCHMARKS.md): at most 0.7 % between
# the highest and the lowest of 5 runs, for every count.
REGRESSION = 0.03
STALE = 0.03
# A count below this share of its record means the process did not do the path's work: the
# measurement is broken (a check that measured nothing must not pass).
NOTHING = 0.25
# The self-test's deliberate regression: Envoy tracing every request (`up`'s receiver on).
SELF_TEST_REQUESTS = 100


class Path:
    """One measured path: how `up` runs, which processes are counted, where requests go."""

    def __init__(self, name, what, up_args, global_args, services, envoys, path_procs, target):
        self.name = name
        self.what = what
        self.up_args = up_args
        self.global_args = global_args
        self.services = services  # the counted services
        self.envoys = envoys  # the counted Envoys, by their bootstrap's directory
        self.path_procs = path_procs  # the processes whose sum is the path's figure
        self.target = target  # (state dir, aggregator port) -> (port, Host header or None, path)


def chain_target(state, aggregator):
    return aggregator, None, "/kyc/v1/customer?type=report"


def pair_target(state, aggregator):
    status = json.loads((state / "run" / "mesh.json").read_text())
    client = next(w for w in status["workloads"] if w["name"] == "kyc-aggregator-mgt")
    return client["sidecar"]["outbound"], "kyc-credit-check-basic:8080", "/credit-check/basic"


PATHS = {
    "chain": Path(
        "chain",
        "aggregator -> gateway Envoy -> basic scorer, edge only",
        ["--no-sidecars"],
        ["--scenario", str(ROOT / "networking" / "scenarios" / "canary-100-0.yaml")],
        ["kyc-aggregator-mgt", "kyc-credit-check-basic"],
        ["gateway"],
        ["kyc-aggregator-mgt", "envoy:gateway", "kyc-credit-check-basic"],
        chain_target,
    ),
    "pair": Path(
        "pair",
        "aggregator's sidecar outbound -> mTLS -> basic's sidecar inbound -> basic scorer",
        [],
        [],
        ["kyc-credit-check-basic"],
        ["kyc-aggregator-mgt", "kyc-credit-check-basic"],
        ["envoy:kyc-aggregator-mgt", "envoy:kyc-credit-check-basic"],
        pair_target,
    ),
}
LABELS = {
    "envoy:gateway": "gateway Envoy",
    "envoy:kyc-aggregator-mgt": "client sidecar (the aggregator's)",
    "envoy:kyc-credit-check-basic": "server sidecar (basic's)",
    "kyc-credit-check-basic": "basic scorer",
    "kyc-aggregator-mgt": "aggregator",
}


def label(proc):
    return LABELS.get(proc, proc)


class Broken(Exception):
    """The measurement could not be made (exit 2)."""


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def linkage(binary):
    """`static` (no ELF interpreter: the images' binaries) or `dynamic` (cargo build --profile perf)."""
    with open(binary, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            raise Broken(f"{binary} is not a 64-bit ELF executable")
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = [struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)]
    return "dynamic" if 3 in types else "static"  # PT_INTERP


class Mesh:
    """`kyc-mesh up` for one path, its counted processes under callgrind."""

    def __init__(self, path, bin_dir, envoy, work, up_args, traces):
        self.path = path
        self.out = work / "callgrind"
        self.out.mkdir(parents=True)
        wrappers = work / "bin"
        wrappers.mkdir()
        valgrind = f"valgrind --tool=callgrind --quiet --instr-atstart=no --callgrind-out-file={self.out}/"
        for s in SERVICES:
            real = (bin_dir / s).resolve()
            if s in path.services:
                (wrappers / s).write_text(
                    f'#!/bin/sh\necho $$ >"{self.out}/{s}.pid"\nexec {valgrind}{s}.%p "{real}" "$@"\n'
                )
                (wrappers / s).chmod(0o755)
            else:
                (wrappers / s).symlink_to(real)
        cases = "".join(
            f'    */{e}/bootstrap.json)\n        echo $$ >"{self.out}/envoy:{e}.pid"\n'
            f'        exec {valgrind}envoy:{e}.%p "{envoy}" "$@" ;;\n'
            for e in path.envoys
        )
        (wrappers / "envoy").write_text(
            "#!/bin/sh\n# The mesh's Envoys: the counted ones under callgrind, picked by their bootstrap.\n"
            f'for a in "$@"; do\n    case "$a" in\n{cases}    esac\ndone\nexec "{envoy}" "$@"\n'
        )
        (wrappers / "envoy").chmod(0o755)
        agg, basic, adv, gw, admin = free_ports(5)
        self.state = work / "state"
        args = [str(bin_dir / "kyc-mesh"), "--networking", str(ROOT / "networking")]
        args += ["--state-dir", str(self.state), "--bin-dir", str(wrappers), "--envoy", str(wrappers / "envoy")]
        args += ["--aggregator-port", str(agg), "--basic-port", str(basic), "--advanced-port", str(adv)]
        args += ["--gateway-port", str(gw), "--admin-port", str(admin), *path.global_args]
        args += ["up", "--no-prometheus", "--no-dashboard", "--ready-timeout", "120", *path.up_args]
        # No trace receiver, unless tracing is the point (--traces: every service and Envoy
        # traces every request into `up`'s receiver).
        args += ["--otlp-http-port", "0", "--otlp-grpc-port", "0"] if traces else ["--no-traces"]
        args += up_args
        self.log = work / "mesh.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "KYC_"))}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.conn = None
        try:
            deadline = time.monotonic() + 180
            while b"KYC local mesh is up" not in self.log.read_bytes():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
                    raise Broken(f"kyc-mesh up ({path.name}) did not come up; the end of its log:\n{tail}")
                time.sleep(0.2)
            self.pids = {}
            for p in path.services + [f"envoy:{e}" for e in path.envoys]:
                f = self.out / f"{p}.pid"
                if not f.exists():
                    raise Broken(f"the {label(p)} was not started under callgrind (no {f.name})")
                self.pids[p] = int(f.read_text())
            self.port, self.host, self.url = path.target(self.state, agg)
        except BaseException:
            self.stop()
            raise

    def control(self, *flag):
        """One callgrind_control command to every counted process at once."""
        procs = {
            p: subprocess.Popen(
                ["callgrind_control", *flag, str(pid)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for p, pid in self.pids.items()
        }
        for p, c in procs.items():
            out, _ = c.communicate(timeout=120)
            if c.returncode != 0 or "OK" not in out:
                raise Broken(f"callgrind_control {' '.join(flag)} failed for the {label(p)}: {out.strip()}")

    def totals(self):
        """The instruction total of each process's newest dump."""
        out = {}
        for p, pid in self.pids.items():
            dumps = sorted(self.out.glob(f"{p}.{pid}.*"), key=lambda f: int(f.suffix[1:]))
            if not dumps:
                raise Broken(f"no callgrind dump of the {label(p)}")
            for line in dumps[-1].read_text().splitlines():
                if line.startswith("totals:"):
                    out[p] = int(line.split()[1])
                    break
            else:
                raise Broken(f"no totals in {dumps[-1]}")
        return out

    def send(self, n, pause=0.0):
        """n requests, one after another, on one keep-alive connection (`pause` seconds before each);
        each must answer 200."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"content-type": "application/json"}
        if self.host:
            headers["host"] = self.host
        for _ in range(n):
            if pause:
                time.sleep(pause)
            self.conn.request("POST", self.url, body=APPLICANT, headers=headers)
            r = self.conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise Broken(f"{self.path.name}: {self.url} answered {r.status}: {body[:300]!r}")
            if r.will_close:
                raise Broken(f"{self.path.name}: the connection was not kept alive")

    def window(self, n, idle_s=0.0, pause=0.0):
        """The counts of one window (n requests, or idle for idle_s) and its length in seconds."""
        self.control("-z")
        start = time.monotonic()
        if n:
            self.send(n, pause)
        else:
            time.sleep(idle_s)
        seconds = time.monotonic() - start
        self.control("-d")
        return self.totals(), seconds

    def measure(self, n, warmup, pause):
        self.control("-i", "on")
        self.send(warmup)
        loaded, loaded_s = self.window(n, pause=pause)
        idle, idle_s = self.window(0, loaded_s)
        per_request = {p: (loaded[p] - idle[p] * loaded_s / idle_s) / n for p in self.pids}
        for p, v in per_request.items():
            if v <= 0:
                raise Broken(f"the {label(p)} counted no instructions for the requests ({loaded[p]:,} loaded, "
                             f"{idle[p]:,} idle): callgrind measured nothing")
        return {
            "per_request": {p: round(v) for p, v in per_request.items()},
            "idle_per_second": {p: round(idle[p] / idle_s) for p in self.pids},
            "idle_share": {p: round(idle[p] * loaded_s / idle_s / loaded[p], 4) for p in self.pids},
            "loaded_s": round(loaded_s, 2),
        }

    def stop(self):
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def measure_path(path, a, runs, requests, traces, work):
    """`runs` runs of one path, a fresh mesh each; the median of each count and its spread."""
    results = []
    for i in range(runs):
        print(f"==> {path.name} ({path.what}): run {i + 1}/{runs}, {requests} requests"
              + (", tracing every request" if traces else "")
              + (f", up {' '.join(a.up_arg)}" if a.up_arg else ""), file=sys.stderr)
        mesh = Mesh(path, a.bin_dir, a.envoy, work / f"{path.name}-{len(list(work.glob('*'))) + 1}", a.up_arg, traces)
        try:
            r = mesh.measure(requests, a.warmup, a.pause_ms / 1000)
        finally:
            mesh.stop()
        r["path"] = sum(r["per_request"][p] for p in path.path_procs)
        print("    " + ", ".join(f"{label(k)} {v:,}" for k, v in r["per_request"].items())
              + f"; path {r['path']:,} instructions/request ({r['loaded_s']} s loaded)", file=sys.stderr)
        results.append(r)

    def median_spread(values):
        med = statistics.median(values)
        return round(med), round((max(values) - min(values)) / med * 100, 2)

    out = {"what": path.what, "path_processes": path.path_procs, "processes": {}, "spread_pct": {}}
    out["path"], out["spread_pct"]["path"] = median_spread([r["path"] for r in results])
    for p in results[0]["per_request"]:
        out["processes"][p], out["spread_pct"][p] = median_spread([r["per_request"][p] for r in results])
    out["runs"] = results
    return out


def compare(results, record, regression, stale):
    """(failed, lines): each path's figure and each process's count against the record."""
    failed = False
    lines = []
    for name, res in results.items():
        rec = record.get("paths", {}).get(name)
        if rec is None:
            failed = True
            lines.append(f"FAILED {name}: no recorded counts; record them (scripts/bench.sh --check --update)")
            continue
        figures = [("path", f"{name} path ({' + '.join(label(p) for p in res['path_processes'])})")]
        figures += [(p, f"{name}: {label(p)}") for p in res["processes"]]
        for key, what in figures:
            now = res["path"] if key == "path" else res["processes"][key]
            was = rec["path"] if key == "path" else rec["processes"].get(key)
            if not was:
                failed = True
                lines.append(f"FAILED {what}: no recorded count; record it (scripts/bench.sh --check --update)")
                continue
            change = now / was - 1
            text = f"{what}: {now:,} instructions/request, recorded {was:,} ({change:+.1%})"
            if now < was * NOTHING:
                failed = True
                lines.append(f"FAILED {text}: below {NOTHING:.0%} of the record, the process did not do "
                             "the path's work (the measurement is broken)")
            elif change > regression:
                failed = True
                lines.append(f"REGRESSION {text}, above the threshold of +{regression:.0%}")
            elif change < -stale:
                lines.append(f"notice: {text}, more than {stale:.0%} below the record: the record is stale, "
                             "re-record it (scripts/bench.sh --check --update)")
            else:
                lines.append(f"ok {text}")
    return failed, lines


def cpu_model():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def tool_version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except OSError:
        return "unknown"


def envoy_version(envoy):
    for word in tool_version([envoy, "--version"]).split():
        if "/" in word and word.split("/")[1][:1].isdigit():
            return word.split("/")[1]
    return "unknown"


def print_results(results, runs):
    for name, res in results.items():
        spread = res["spread_pct"]
        print(f"{name}: path {res['path']:,} instructions/request"
              + (f" (spread {spread['path']} % over {runs} runs)" if runs > 1 else ""), file=sys.stderr)
        for p, v in res["processes"].items():
            print(f"    {label(p):36} {v:>10,}" + (f"  (spread {spread[p]} %)" if runs > 1 else ""), file=sys.stderr)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bin_dir = os.environ.get("KYC_BIN_DIR") or ROOT / "target" / "perf"
    p.add_argument("--bin-dir", type=pathlib.Path, default=pathlib.Path(bin_dir),
                   help="the three services and kyc-mesh (default KYC_BIN_DIR, else target/perf)")
    p.add_argument("--envoy", default=os.environ.get("KYC_ENVOY_BIN"),
                   help="the Envoy binary (default KYC_ENVOY_BIN, else scripts/run-local.sh --print-envoy)")
    p.add_argument("--requests", type=int, default=1000, help="measured requests per run (default 1000)")
    p.add_argument("--warmup", type=int, default=100, help="requests before the counters are zeroed (default 100)")
    p.add_argument("--runs", type=int, help="runs per path, a fresh mesh each (default 1; 5 with --update)")
    p.add_argument("--paths", default="chain,pair", help="comma-separated, of chain and pair (default both)")
    p.add_argument("--up-arg", action="append", default=[], metavar="ARG",
                   help="one more `kyc-mesh up` argument (repeatable), e.g. --up-arg=--access-log")
    p.add_argument("--traces", action="store_true",
                   help="run up's trace receiver: every service and Envoy traces every request "
                        "(a deliberate regression)")
    p.add_argument("--pause-ms", type=float, default=0.0, metavar="MS",
                   help="pause before each measured request: a longer loaded window, as on a slower machine "
                        "(the counts must not move)")
    p.add_argument("--record", type=pathlib.Path, default=RECORD,
                   help="the recorded counts (default bench/instructions.json)")
    p.add_argument("--check", action="store_true", help="compare with the record; exit 1 on a regression")
    p.add_argument("--self-test", action="store_true",
                   help=f"with --check: then measure the pair with Envoy tracing every request ({SELF_TEST_REQUESTS} "
                        "requests) and fail unless the comparison reports it as a regression")
    p.add_argument("--update", action="store_true", help="write the measured counts into the record")
    p.add_argument("--json", type=pathlib.Path, help="also write the measured counts here")
    p.add_argument("--keep", type=pathlib.Path, help="keep the meshes' logs and callgrind files in this directory")
    a = p.parse_args()
    if a.check and a.update:
        p.error("--check and --update exclude each other")
    if a.self_test and not a.check:
        p.error("--self-test goes with --check")
    if a.update and (a.up_arg or a.traces or a.pause_ms):
        p.error("--update records the mesh as it is: no --up-arg, --traces or --pause-ms")
    if a.pause_ms < 0:
        p.error("--pause-ms must not be negative")
    a.runs = a.runs or (5 if a.update else 1)
    if a.requests < 100 or a.runs < 1 or a.warmup < 1:
        p.error("--requests must be at least 100, --runs and --warmup at least 1")
    a.paths = [n for n in a.paths.split(",") if n]
    for n in a.paths:
        if n not in PATHS:
            p.error(f"unknown path {n!r} (chain, pair)")
    return a


def main():
    a = parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise Broken(f"{tool} is not installed (apt-get install valgrind)")
    if not a.envoy:
        a.envoy = subprocess.run([str(ROOT / "scripts" / "run-local.sh"), "--print-envoy"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    for b in [*SERVICES, "kyc-mesh"]:
        if not os.access(a.bin_dir / b, os.X_OK):
            raise Broken(f"{a.bin_dir / b} not found (cargo build --profile perf --workspace --bins, or --bin-dir)")
    if not os.access(a.envoy, os.X_OK):
        raise Broken(f"Envoy not found at {a.envoy}")
    links = {linkage(a.bin_dir / s) for s in SERVICES}
    if len(links) != 1:
        raise Broken(f"the services in {a.bin_dir} are not linked alike (static and dynamic)")
    link = links.pop()

    book = {}
    if a.check or a.update:
        try:
            book = json.loads(a.record.read_text())
        except FileNotFoundError:
            if a.check:
                raise Broken(f"no recorded counts ({a.record}): record them with scripts/bench.sh --check --update")
        except ValueError as e:
            raise Broken(f"cannot read the recorded counts {a.record}: {e}")
    threshold = book.get("threshold", {})
    regression = threshold.get("regression", REGRESSION)
    stale = threshold.get("stale", STALE)

    work = pathlib.Path(tempfile.mkdtemp(prefix="kyc-instructions-"))
    started = time.monotonic()
    try:
        results = {n: measure_path(PATHS[n], a, a.runs, a.requests, a.traces, work) for n in a.paths}
        control = None
        if a.self_test:
            control = measure_path(PATHS["pair"], a, 1, SELF_TEST_REQUESTS, True, work)
    finally:
        if a.keep:
            shutil.copytree(work, a.keep, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    wall = round(time.monotonic() - started)

    measured = {
        "binaries": link,
        "requests": a.requests,
        "runs": a.runs,
        "up_args": a.up_arg + (["(trace receiver on)"] if a.traces else []),
        "pause_ms": a.pause_ms,
        "envoy": envoy_version(a.envoy),
        "valgrind": tool_version(["valgrind", "--version"]),
        "cpu": cpu_model(),
        "commit": tool_version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "unknown",
        "wall_s": wall,
        "paths": results,
    }
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(measured, indent=2) + "\n")
    print(f"measured in {wall} s ({link} binaries from {a.bin_dir})", file=sys.stderr)
    print_results(results, a.runs)

    if a.update:
        measured["recorded"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        book.setdefault("about", "Instructions per request counted by bench/instructions.py (callgrind); "
                        "checked by scripts/bench.sh --check, re-recorded by scripts/bench.sh --check --update; "
                        "BENCHMARKS.md, 'Instruction counts: the regression guard (issue 20)'.")
        book["threshold"] = {"regression": regression, "stale": stale}
        book.setdefault("records", {})[link] = measured
        a.record.write_text(json.dumps(book, indent=2) + "\n")
        print(f"recorded into {a.record} (the {link} binaries' counts)", file=sys.stderr)
        return 0
    if not a.check:
        return 0

    records = book.get("records", {})
    record = records.get(link)
    if record is None and records:
        other = next(iter(records))
        record = records[other]
        print(f"notice: no record for {link} binaries; comparing with the {other} ones' (the services count "
              "about 1-1.5 % apart between the two linkages: BENCHMARKS.md)", file=sys.stderr)
    if record is None:
        raise Broken(f"{a.record} holds no counts: record them with scripts/bench.sh --check --update")
    print(f"against {a.record} ({record.get('binaries')} binaries, recorded {record.get('recorded', '?')} at "
          f"{record.get('commit', '?')}, Envoy {record.get('envoy', '?')}; threshold +{regression:.0%}):",
          file=sys.stderr)
    if record.get("envoy") != measured["envoy"]:
        print(f"  notice: measured with Envoy {measured['envoy']}, recorded with {record.get('envoy')}",
              file=sys.stderr)
    if record.get("cpu") != measured["cpu"]:
        print(f"  notice: this CPU ({measured['cpu']}) is not the recording's ({record.get('cpu')}): library code "
              "picked by CPU features (memcpy, AES) may count differently", file=sys.stderr)
    failed, lines = compare(results, record, regression, stale)
    for line in lines:
        print("  " + line, file=sys.stderr)

    if control is not None:
        caught, control_lines = compare({"pair": control}, record, regression, stale)
        flagged = [line for line in control_lines if line.startswith("REGRESSION pair path")]
        print(f"self-test: the pair with Envoy tracing every request (a deliberate regression) "
              f"{'was' if flagged else 'was NOT'} caught:", file=sys.stderr)
        for line in flagged or control_lines:
            print("  " + line, file=sys.stderr)
        if not flagged:
            print("instruction-count check FAILED: the guard did not see a deliberate regression, so it "
                  "measures nothing", file=sys.stderr)
            return 1

    if failed:
        print("instruction-count check FAILED (see above); if the change is intended, re-record the counts "
              "with scripts/bench.sh --check --update and say why in BENCHMARKS.md", file=sys.stderr)
        return 1
    print("instruction-count check passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Broken as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
