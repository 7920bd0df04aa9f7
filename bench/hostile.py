#!/usr/bin/env python3
"""Hostile clients against each KYC service binary, on loopback only: RSS under a connection flood,
a normal client's latency while slow-header (slowloris) clients hang on, and a 200 KB request head.

Usage: bench/hostile.py [--bin-dir DIR] [--flood N] [--slow N] [--seconds S] [--out FILE]
                        [--service-env KEY=VALUE ...]

For each service (the aggregator calls the basic scorer directly as its gateway: no Envoy here):
  1. idle flood: N TCP connections opened and held without sending a byte, for S/2 seconds
  2. request flood: `wrk -c N` on the service's business route for S seconds; RSS sampled every
     0.25 s, and /readyz asked every 0.5 s on a new connection (2 s timeout)
  3. slowloris: --slow connections send half a request head, then one header line a second (a
     connection the server closes is opened again); meanwhile a normal client sends GET /readyz and
     the business route on a new connection each, one after another, for S seconds: p50/p99/max
  4. one request with a 200 KB header: the status answered (or how the connection ended)
Peak RSS is the process's VmHWM; "after" is VmRSS 2 s after the flood ends.
Everything is bounded: at most N + --slow sockets, about 3 x (2.5 S + 6) seconds in all.
Prints a table and writes JSON (default target/bench/hostile.json). Needs wrk.
"""

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSINESS = {
    "kyc-aggregator-mgt": "/kyc/v1/customer?type=basicReport&demo=alice",
    "kyc-credit-check-basic": "/credit-check/report?demo=alice",
    "kyc-credit-check-advanced": "/credit-check/report?demo=alice",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def http_status(port: int, path: str, timeout: float = 2.0, extra: bytes = b"") -> str:
    """One request on a new connection: the status code, or what went wrong."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".encode() + extra + b"\r\n")
            head = s.recv(64)
            if not head:
                return "closed"
            return head.split(b" ")[1].decode()
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return type(e).__name__


def start(binary: str, port: int, env: dict) -> subprocess.Popen:
    full = dict(os.environ, KYC_HOST="127.0.0.1", KYC_PORT=str(port), **env)
    p = subprocess.Popen([binary], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if http_status(port, "/readyz", 0.5) == "200":
            return p
        time.sleep(0.02)
    p.kill()
    sys.exit(f"{binary} did not become ready")


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


async def idle_flood(port: int, n: int, seconds: float, pid: int) -> dict:
    conns, failed = [], 0
    for _ in range(n):
        try:
            conns.append(await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2))
        except (OSError, asyncio.TimeoutError):
            failed += 1
    await asyncio.sleep(seconds)
    rss = status_kb(pid, "VmRSS")
    probe = await asyncio.to_thread(http_status, port, "/readyz")
    for _, w in conns:
        w.close()
    return {"opened": len(conns), "failed": failed, "rss_kb_held": rss, "readyz_while_held": probe}


async def request_flood(port: int, path: str, n: int, seconds: int, pid: int) -> dict:
    wrk = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{n}", f"-d{seconds}s", "--timeout", "5s", f"http://127.0.0.1:{port}{path}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    samples, probes = [], []
    t0 = time.monotonic()
    next_probe = t0
    while wrk.returncode is None and time.monotonic() - t0 < seconds + 10:
        samples.append(status_kb(pid, "VmRSS"))
        if time.monotonic() >= next_probe:
            started = time.monotonic()
            status = await asyncio.to_thread(http_status, port, "/readyz")
            probes.append((status, (time.monotonic() - started) * 1000))
            next_probe = started + 0.5
        try:
            await asyncio.wait_for(wrk.wait(), 0.25)
        except asyncio.TimeoutError:
            pass
    out = (await wrk.stdout.read()).decode(errors="replace")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: (.*)", out)
    await asyncio.sleep(2)
    ok = [ms for s, ms in probes if s == "200"]
    return {
        "requests": int(total.group(1)) if total else None,
        "rps": float(rps.group(1)) if rps else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "none",
        "rss_kb_max_sampled": max(samples) if samples else None,
        "rss_kb_after": status_kb(pid, "VmRSS"),
        "readyz_during": {"asked": len(probes), "ok": len(ok),
                          "others": sorted({s for s, _ in probes if s != "200"}),
                          "ok_p50_ms": percentile(ok, 0.5), "ok_max_ms": percentile(ok, 1.0)},
    }


async def slowloris(port: int, path: str, n: int, seconds: float) -> dict:
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    stop = time.monotonic() + seconds
    closed_by_server = 0

    async def slow_one():
        nonlocal closed_by_server
        while time.monotonic() < stop:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
                w.write(head)
                i = 0
                while time.monotonic() < stop:
                    await asyncio.sleep(1)
                    w.write(b"x-slow-%d: a\r\n" % i)
                    i += 1
                    await w.drain()
                    if r.at_eof():
                        break
                w.close()
            except (OSError, asyncio.TimeoutError):
                pass
            if time.monotonic() < stop:
                closed_by_server += 1

    async def normal():
        lat = {"/readyz": [], path: []}
        errors = {}
        while time.monotonic() < stop:
            for p in lat:
                started = time.monotonic()
                status = await asyncio.to_thread(http_status, port, p, 5.0)
                if status == "200":
                    lat[p].append((time.monotonic() - started) * 1000)
                else:
                    errors[status] = errors.get(status, 0) + 1
        return lat, errors

    slow = [asyncio.create_task(slow_one()) for _ in range(n)]
    await asyncio.sleep(1)  # let them all connect and start
    lat, errors = await normal()
    await asyncio.gather(*slow)
    return {
        "slow_connections": n,
        "reopened_after_server_close": closed_by_server,
        "normal_client": {p: {"requests": len(v), "p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99),
                              "max_ms": percentile(v, 1.0)} for p, v in lat.items()},
        "normal_client_errors": errors,
    }


async def one_service(name, bin_dir, args, env) -> dict:
    procs = []
    try:
        svc_env = dict(env)
        if name == "kyc-aggregator-mgt":
            gw = free_port()
            procs.append(start(os.path.join(bin_dir, "kyc-credit-check-basic"), gw, env))
            svc_env["KYC_GATEWAY_URL"] = f"http://127.0.0.1:{gw}"
        port = free_port()
        p = start(os.path.join(bin_dir, name), port, svc_env)
        procs.append(p)
        path = BUSINESS[name]
        for _ in range(200):
            http_status(port, path)
        result = {"rss_kb_start": status_kb(p.pid, "VmRSS")}
        print(f"  {name}: idle flood of {args.flood}", file=sys.stderr)
        result["idle_flood"] = await idle_flood(port, args.flood, args.seconds / 2, p.pid)
        print(f"  {name}: request flood, wrk -c {args.flood}", file=sys.stderr)
        result["request_flood"] = await request_flood(port, path, args.flood, args.seconds, p.pid)
        print(f"  {name}: slowloris x {args.slow} with a normal client", file=sys.stderr)
        result["slowloris"] = await slowloris(port, path, args.slow, args.seconds)
        result["head_200kb"] = http_status(port, "/healthz", 5.0, b"x-big: " + b"a" * 200_000 + b"\r\n")
        result["rss_kb_peak"] = status_kb(p.pid, "VmHWM")
        result["rss_kb_end"] = status_kb(p.pid, "VmRSS")
        result["alive_at_end"] = p.poll() is None and http_status(port, "/healthz") == "200"
        return result
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.environ.get("KYC_BIN_DIR", os.path.join(ROOT, "target/release")))
    ap.add_argument("--flood", type=int, default=5000)
    ap.add_argument("--slow", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--out", default=os.path.join(ROOT, "target/bench/hostile.json"))
    ap.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--only", choices=list(BUSINESS), help="one service only")
    args = ap.parse_args()
    if not (1 <= args.flood <= 10000 and 0 <= args.slow <= 2000 and 2 <= args.seconds <= 120):
        sys.exit("--flood 1..10000, --slow 0..2000, --seconds 2..120")
    env = dict(kv.split("=", 1) for kv in args.service_env)
    env.setdefault("KYC_LOG_LEVEL", "warn")
    results = {"settings": {"flood": args.flood, "slow": args.slow, "seconds": args.seconds, "env": env,
                            "bin_dir": args.bin_dir, "load_average_at_start": open("/proc/loadavg").read().split()[:3]},
               "services": {}}
    for name in [args.only] if args.only else BUSINESS:
        print(f"{name}", file=sys.stderr)
        results["services"][name] = asyncio.run(one_service(name, args.bin_dir, args, env))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"{'service':27} {'start MB':>8} {'idle-flood MB':>13} {'flood max MB':>12} {'after MB':>8} "
          f"{'peak MB':>8} {'flood req/s':>11} {'readyz ok':>9} {'slowloris p50/p99/max ms (business)':>36} {'200KB head':>10}")
    for name, r in results["services"].items():
        rf, sl = r["request_flood"], r["slowloris"]["normal_client"][BUSINESS[name]]
        mb = lambda kb: f"{kb / 1024:.1f}" if kb else "-"
        print(f"{name:27} {mb(r['rss_kb_start']):>8} {mb(r['idle_flood']['rss_kb_held']):>13} "
              f"{mb(rf['rss_kb_max_sampled']):>12} {mb(rf['rss_kb_after']):>8} {mb(r['rss_kb_peak']):>8} "
              f"{rf['rps'] or '-':>11} {rf['readyz_during']['ok']}/{rf['readyz_during']['asked']:<7} "
              f"{str(sl['p50_ms']) + '/' + str(sl['p99_ms']) + '/' + str(sl['max_ms']):>36} {r['head_200kb']:>10}")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
