#!/usr/bin/env python3
"""Timed probes for scripts/resilience.sh (loopback only, bounded in time).

  probe.py kill URL PID [--signal KILL] [--body FILE] [--max-s 10]
      POSTs to URL one request after another (keep-alive), sends the signal to PID after 1 s of
      successful answers, and reports how long after the signal the first answer carrying the
      error JSON ({"errorCode", ...}) arrived, and what came before it.

  probe.py inflight URL PID [--signal TERM] [--body FILE] [--concurrency 16] [--after-s 2]
      --concurrency clients POST to URL in a loop; after 1 s the signal goes to PID. A request
      "in flight" was sent before the signal and not yet answered when it was sent; "lost" means an
      in-flight request that did not get 200. Requests sent after the signal are reported apart
      (with no other instance of the scorer, those fail by design).

Both print one JSON object.
"""

import argparse
import http.client
import json
import os
import signal
import threading
import time
from urllib.parse import urlsplit


class Client:
    """A keep-alive HTTP/1.1 client that reconnects after a failure."""

    def __init__(self, url: str, body: bytes):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.body = body
        self.conn = None

    def post(self):
        """Returns (status or None, parsed JSON body or None, error text or None)."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            self.conn.request("POST", self.path, body=self.body,
                              headers={"content-type": "application/json"})
            resp = self.conn.getresponse()
            raw = resp.read()
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
            if resp.getheader("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return resp.status, doc, None
        except (OSError, http.client.HTTPException) as e:
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None, None, f"{type(e).__name__}: {e}"


def is_error_json(doc) -> bool:
    return isinstance(doc, dict) and "errorCode" in doc and "errorMessage" in doc


def kill(args, body: bytes) -> dict:
    client = Client(args.url, body)
    start = time.monotonic()
    while time.monotonic() - start < 1.0:
        status, _, err = client.post()
        if status != 200:
            raise SystemExit(f"before the signal, {args.url} answered {status} {err or ''}")
    sig = getattr(signal, f"SIG{args.signal}")
    t0 = time.monotonic()
    os.kill(args.pid, sig)
    before = []  # answers after the signal, before the first error JSON
    while time.monotonic() - t0 < args.max_s:
        status, doc, err = client.post()
        now = time.monotonic()
        if is_error_json(doc):
            return {
                "signal": args.signal,
                "first_error_json_ms": round((now - t0) * 1000, 2),
                "status": status,
                "errorCode": doc["errorCode"],
                "errorMessage": doc["errorMessage"],
                "answers_before_it": before,
            }
        before.append({"status": status, "error": err})
    return {"signal": args.signal, "first_error_json_ms": None, "answers_before_it": before,
            "note": f"no error JSON within {args.max_s} s"}


def inflight(args, body: bytes) -> dict:
    records = []  # (sent, done, status, error)
    lock = threading.Lock()
    stop = threading.Event()

    def worker():
        client = Client(args.url, body)
        mine = []
        while not stop.is_set():
            sent = time.monotonic()
            status, doc, err = client.post()
            mine.append((sent, time.monotonic(), status, err or (doc or {}).get("errorCode")))
        with lock:
            records.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # load before the signal (timing of the experiment, not synchronisation)
    t0 = time.monotonic()
    os.kill(args.pid, getattr(signal, f"SIG{args.signal}"))
    time.sleep(args.after_s)
    stop.set()
    for t in threads:
        t.join()

    def summary(rs):
        failed = [r for r in rs if r[2] != 200]
        kinds = {}
        for r in failed:
            k = f"{r[2]} {r[3] or ''}".strip()
            kinds[k] = kinds.get(k, 0) + 1
        return {"requests": len(rs), "ok": len(rs) - len(failed), "failed": len(failed),
                "failures": kinds}

    before = [r for r in records if r[0] < t0]
    in_flight = [r for r in before if r[1] >= t0]
    after = [r for r in records if r[0] >= t0]
    slowest = max((r[1] - t0 for r in in_flight), default=0.0)
    return {
        "signal": args.signal,
        "concurrency": args.concurrency,
        "sent_before_signal": summary(before),
        "in_flight_at_signal": summary(in_flight),
        "lost_in_flight": sum(1 for r in in_flight if r[2] != 200),
        "last_in_flight_answered_ms_after_signal": round(slowest * 1000, 2),
        "sent_after_signal": summary(after),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["kill", "inflight"])
    p.add_argument("url")
    p.add_argument("pid", type=int)
    p.add_argument("--signal", default=None, choices=["KILL", "TERM", "INT"])
    p.add_argument("--body", default=os.path.join(os.path.dirname(__file__), "applicant.json"))
    p.add_argument("--max-s", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--after-s", type=float, default=2.0)
    args = p.parse_args()
    with open(args.body, "rb") as f:
        body = f.read()
    if args.mode == "kill":
        args.signal = args.signal or "KILL"
        print(json.dumps(kill(args, body)))
    else:
        args.signal = args.signal or "TERM"
        print(json.dumps(inflight(args, body)))


if __name__ == "__main__":
    main()
