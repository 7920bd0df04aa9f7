#!/usr/bin/env python3
"""Time from exec to the first `GET /readyz` answered 200, for one service binary.

Usage: bench/ready.py BINARY [RUNS]

Each run picks a free loopback port, starts BINARY with KYC_PORT/KYC_HOST set (and a dummy
KYC_GATEWAY_URL so the aggregator does not need a mesh), polls /readyz every 0.5 ms with a raw
HTTP/1.1 request over a fresh connection (a refused connection costs microseconds), then stops
the process with SIGTERM. Prints one JSON object: every run in ms, best, median.
"""

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

DEADLINE_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readyz(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def one_run(binary: str) -> float:
    port = free_port()
    env = dict(os.environ)
    env.update(
        KYC_PORT=str(port),
        KYC_HOST="127.0.0.1",
        KYC_GATEWAY_URL=env.get("KYC_GATEWAY_URL", "http://127.0.0.1:9"),
    )
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if readyz(port):
                return (time.perf_counter() - started) * 1000.0
            if proc.poll() is not None:
                raise SystemExit(f"{binary} exited ({proc.returncode}) before /readyz answered 200")
            if time.perf_counter() - started > DEADLINE_S:
                raise SystemExit(f"{binary}: /readyz not 200 within {DEADLINE_S} s")
            time.sleep(0.0005)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    times = [one_run(binary) for _ in range(runs)]
    print(json.dumps({
        "runs_ms": [round(t, 2) for t in times],
        "best_ms": round(min(times), 2),
        "median_ms": round(statistics.median(times), 2),
    }))


if __name__ == "__main__":
    main()
