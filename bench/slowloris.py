#!/usr/bin/env python3
"""Hostile clients against HOST:PORT for S seconds, to see what they do to normal clients.

  slow  N connections (slowloris): each sends a request line and a header, then one more
        header byte every --interval seconds, never the blank line that ends the headers
  idle  N connections that send nothing (a connection flood)

Prints one JSON object: opened, failed to open, closed by the server (and after how long).
"""
import argparse
import json
import socket
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["slow", "idle"])
    p.add_argument("port", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--connections", type=int, default=500)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--interval", type=float, default=1.0)
    args = p.parse_args()

    start = time.monotonic()
    socks, failed = [], 0
    for _ in range(args.connections):
        try:
            s = socket.create_connection((args.host, args.port), timeout=2)
            s.setblocking(False)
            if args.mode == "slow":
                s.send(b"GET /credit-check/basic HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
            socks.append([s, time.monotonic()])
        except OSError:
            failed += 1
    opened = len(socks)
    closed_after = []
    end = start + args.seconds
    while time.monotonic() < end and socks:
        now = time.monotonic()
        alive = []
        for entry in socks:
            s, opened_at = entry
            try:
                s.recv(4096)
                # Anything read (a 408) or end of stream: the server gave up on it.
                closed_after.append(now - opened_at)
                s.close()
                continue
            except BlockingIOError:
                pass
            except OSError:
                closed_after.append(now - opened_at)
                s.close()
                continue
            if args.mode == "slow":
                try:
                    s.send(b"a")
                except BlockingIOError:
                    pass
                except OSError:
                    closed_after.append(now - opened_at)
                    s.close()
                    continue
            alive.append(entry)
        socks = alive
        time.sleep(args.interval)
    for s, _ in socks:
        s.close()
    closed_after.sort()
    print(json.dumps({
        "mode": args.mode,
        "connections": args.connections,
        "opened": opened,
        "failed_to_open": failed,
        "closed_by_server": len(closed_after),
        "closed_after_s_median": round(closed_after[len(closed_after) // 2], 2) if closed_after else None,
        "held_to_the_end": len(socks),
    }))


if __name__ == "__main__":
    main()
