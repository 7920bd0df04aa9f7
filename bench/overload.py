#!/usr/bin/env python3
"""How fast the overload 503s are, on loopback: each limit is filled with requests held open, then
--requests more are sent one after another and timed (status, p50/p99/max), with /readyz in between.

Usage: bench/overload.py [--bin-dir DIR] [--requests N] [--out FILE]

  shed-<service>      KYC_MAX_CONCURRENT_REQUESTS=4 and KYC_CHAOS_DELAY_MS=30000: 4 requests hold the
                      permits (inside the chaos delay), the next ones are shed
  outbound-exhausted  aggregator with KYC_OUTBOUND_MAX_CONCURRENCY=4 in front of a gateway that
                      accepts and never answers (a hung gateway): 4 calls hang, the next are refused
Bounded: 4 held requests and N timed ones per case, a few seconds each. Reuses bench/hostile.py's
helpers.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile import BUSINESS, ROOT, free_port, http_status, percentile, start  # noqa: E402

HELD = 4


def hold(port: int, path: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return s


def hung_gateway():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []

    def run():
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=run, daemon=True).start()
    return srv, srv.getsockname()[1]


def timed(port: int, path: str, n: int) -> dict:
    lat, statuses, probes = [], {}, {}
    for _ in range(n):
        t = time.monotonic()
        status = http_status(port, path, 5.0)
        lat.append((time.monotonic() - t) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        p = http_status(port, "/readyz", 5.0)
        probes[p] = probes.get(p, 0) + 1
    return {"statuses": statuses, "p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
            "max_ms": percentile(lat, 1.0), "readyz_statuses": probes}


def case(binary: str, path: str, env: dict, n: int) -> dict:
    port = free_port()
    p = start(binary, port, env)
    try:
        held = [hold(port, path) for _ in range(HELD)]
        time.sleep(0.3)  # measurement setup only: let the held requests reach their permits
        result = timed(port, path, n)
        for s in held:
            s.close()
        return result
    finally:
        p.terminate()
        p.wait(10)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.environ.get("KYC_BIN_DIR", os.path.join(ROOT, "target/release")))
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--out", default=os.path.join(ROOT, "target/bench/overload.json"))
    args = ap.parse_args()
    if not 1 <= args.requests <= 10000:
        sys.exit("--requests 1..10000")
    quiet = {"KYC_LOG_LEVEL": "warn"}
    results = {"load_average_at_start": open("/proc/loadavg").read().split()[:3]}
    srv, gw = hung_gateway()
    for name, path in BUSINESS.items():
        env = dict(quiet, KYC_MAX_CONCURRENT_REQUESTS=str(HELD), KYC_CHAOS_DELAY_MS="30000",
                   KYC_GATEWAY_URL=f"http://127.0.0.1:{gw}")
        results[f"shed-{name}"] = case(os.path.join(args.bin_dir, name), path, env, args.requests)
    env = dict(quiet, KYC_OUTBOUND_MAX_CONCURRENCY=str(HELD), KYC_OUTBOUND_TIMEOUT_MS="30000",
               KYC_GATEWAY_URL=f"http://127.0.0.1:{gw}")
    results["outbound-exhausted"] = case(os.path.join(args.bin_dir, "kyc-aggregator-mgt"),
                                         BUSINESS["kyc-aggregator-mgt"], env, args.requests)
    srv.close()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    for k, v in results.items():
        if isinstance(v, dict):
            print(f"{k:36} {v['statuses']} p50 {v['p50_ms']} ms p99 {v['p99_ms']} ms max {v['max_ms']} ms; /readyz {v['readyz_statuses']}")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
