#!/usr/bin/env python3
"""Instructions per chain request, off / metrics / tracing, counted by Valgrind's callgrind.

A deterministic measure of the cost of observability (BENCHMARKS.md, "The cost of observability"):
instruction counts do not move with the machine's load, unlike the CPU time `scripts/bench.sh`
measures. For each variant, the aggregator and the basic scorer run under
`valgrind --tool=callgrind` (the aggregator's gateway is the scorer itself: no Envoy), a warm-up
is sent, the counters are zeroed (`callgrind_control -z`), N sequential keep-alive requests
`POST /kyc/v1/customer?type=basicReport` are sent, the batch exporter's scheduled delay is waited
out (so the spans' export is counted too), and the counters are dumped. Instructions per request =
(aggregator + scorer) / N.

    bench/obs_instructions.py [--bin-dir target/release] [--requests 2000] [--variants off,metrics,tracing]
                              [--keep DIR]   # keep the callgrind files (callgrind_annotate DIR/…)

Prints a table and one JSON line. Needs valgrind and python3 only.
"""

import argparse
import http.client
import http.server
import json
import os
import pathlib
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
APPLICANT = (HERE / "applicant.json").read_bytes()


class Receiver(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that accepts every export (what bench/observe.sh runs)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def env_for(variant, otlp_port):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OTEL_") and not k.startswith("KYC_")
    }
    env.update(KYC_HOST="127.0.0.1", KYC_PORT="0", KYC_LOG_FORMAT="json")
    env["KYC_METRICS"] = "true" if variant == "metrics" else "false"
    if variant == "tracing":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{otlp_port}"
        env["OTEL_TRACES_SAMPLER"] = "always_on"
    return env


class Service:
    def __init__(self, binary, env, out_dir, name, valgrind=True):
        self.out = out_dir / f"{name}.callgrind"
        wrapper = ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={self.out}"]
        self.proc = subprocess.Popen(
            (wrapper if valgrind else []) + [str(binary)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.port = None
        deadline = time.time() + 120
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == "listening":
                self.port = int(record["addr"].rsplit(":", 1)[1])
                break
            if time.time() > deadline:
                break
        if self.port is None:
            sys.exit(f"{binary} did not start under valgrind")
        # Keep draining stdout so that the service never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def control(self, flag):
        subprocess.run(
            ["callgrind_control", flag, str(self.proc.pid)],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def dumped_instructions(self):
        """The instruction total of the newest dump (`…callgrind.N`)."""
        dumps = sorted(
            self.out.parent.glob(self.out.name + ".*"),
            key=lambda p: int(p.suffix[1:]),
        )
        for line in dumps[-1].read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
        sys.exit(f"no totals in {dumps[-1]}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def send(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(n):
        conn.request(
            "POST",
            "/kyc/v1/customer?type=basicReport",
            body=APPLICANT,
            headers={"content-type": "application/json"},
        )
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"the chain answered {r.status}")
    conn.close()


PERF_EVENTS = "raw_syscalls:sys_enter,context-switches,task-clock"


def cpu_split(pids):
    """User and system CPU ticks of `pids`, summed (/proc/PID/stat fields 14 and 15)."""
    user = system = 0
    for pid in pids:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]), system + int(fields[12])
    return user, system


def perf_counts(pids, n, port, export_wait):
    """Syscalls, context switches and CPU ms of `pids` (summed) over n requests, per request."""
    perf = subprocess.Popen(
        ["perf", "stat", "-x,", "-e", PERF_EVENTS, "-p", ",".join(map(str, pids))],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    before = cpu_split(pids)
    send(port, n)
    time.sleep(export_wait)
    after = cpu_split(pids)
    perf.send_signal(signal.SIGINT)
    _, err = perf.communicate(timeout=30)
    out = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].replace(".", "").isdigit():
            out[fields[2]] = float(fields[0]) / n
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    return {
        "user_us": (after[0] - before[0]) * tick_us / n,
        "system_us": (after[1] - before[1]) * tick_us / n,
        "syscalls": out.get("raw_syscalls:sys_enter"),
        "context_switches": out.get("context-switches"),
        "cpu_us": out["task-clock"] * 1000 if "task-clock" in out else None,
    }


def measure(variant, bin_dir, n, out_dir, otlp_port, export_wait, perf=False):
    env = env_for(variant, otlp_port)
    scorer = Service(bin_dir / "kyc-credit-check-basic", env, out_dir, f"{variant}-scorer", not perf)
    agg_env = dict(env, KYC_GATEWAY_URL=f"http://127.0.0.1:{scorer.port}")
    aggregator = Service(
        bin_dir / "kyc-aggregator-mgt", agg_env, out_dir, f"{variant}-aggregator", not perf
    )
    try:
        send(aggregator.port, 200)
        time.sleep(export_wait)  # the warm-up's spans leave before counting starts
        if perf:
            return dict(
                variant=variant,
                **perf_counts([aggregator.proc.pid, scorer.proc.pid], n, aggregator.port, export_wait),
            )
        for s in (scorer, aggregator):
            s.control("-z")
        send(aggregator.port, n)
        time.sleep(export_wait)
        for s in (scorer, aggregator):
            s.control("-d")
        time.sleep(0.5)
        agg, sc = aggregator.dumped_instructions(), scorer.dumped_instructions()
    finally:
        aggregator.stop()
        scorer.stop()
    return {"variant": variant, "aggregator": agg / n, "scorer": sc / n, "sum": (agg + sc) / n}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin-dir", default=str(HERE.parent / "target" / "release"))
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--variants", default="off,metrics,tracing")
    p.add_argument(
        "--perf",
        action="store_true",
        help="no valgrind: count syscalls, context switches and CPU time per request with perf stat",
    )
    p.add_argument("--keep", help="keep the callgrind files in this directory")
    p.add_argument(
        "--export-wait",
        type=float,
        default=6.0,
        help="seconds to wait for the batch exporter (its default scheduled delay is 5 s)",
    )
    a = p.parse_args()
    if a.requests < 1:
        p.error("--requests must be at least 1")
    if not a.perf and shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    bin_dir = pathlib.Path(a.bin_dir)
    out_dir = pathlib.Path(a.keep or tempfile.mkdtemp(prefix="obs-instr-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = []
    try:
        for variant in a.variants.split(","):
            row = measure(
                variant, bin_dir, a.requests, out_dir, server.server_address[1], a.export_wait, a.perf
            )
            rows.append(row)
            if a.perf:
                print(
                    f"{variant:8} syscalls {row['syscalls']:6.1f}  context switches "
                    f"{row['context_switches']:5.2f}  CPU {row['cpu_us']:6.1f} µs (user "
                    f"{row['user_us']:.1f}, system {row['system_us']:.1f}) per request",
                    file=sys.stderr,
                )
                continue
            print(
                f"{variant:8} aggregator {row['aggregator']:>10,.0f}  scorer {row['scorer']:>10,.0f}  "
                f"sum {row['sum']:>10,.0f} instructions/request",
                file=sys.stderr,
            )
    finally:
        server.shutdown()
        if not a.keep:
            shutil.rmtree(out_dir, ignore_errors=True)
    base = next((r.get("sum") for r in rows if r["variant"] == "off"), None)
    if base:
        for r in rows:
            r["overhead_pct"] = round((r["sum"] / base - 1) * 100, 1)
            print(f"{r['variant']:8} {r['overhead_pct']:+.1f} % vs off", file=sys.stderr)
    print(json.dumps({"requests": a.requests, "rows": rows}))


if __name__ == "__main__":
    main()
