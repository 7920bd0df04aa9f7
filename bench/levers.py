#!/usr/bin/env python3
"""Which setting makes the sidecar pair cheaper or faster? One lever at a time, on a running mesh.

Run by `scripts/bench.sh --levers S` (bench/levers.sh starts the mesh with sidecars, on free ports, and
passes its state directory); usable on any `kyc-mesh up` with sidecars:

    bench/levers.py --state DIR [--seconds 10] [--rounds 3] [--rate 1000] [--levers a,b,...] [--out FILE]

The pair is Istio's path (bench/sidecars.sh): POST /credit-check/basic as the aggregator, to its
sidecar's outbound listener (Host kyc-credit-check-basic:8080), over mTLS to the basic scorer's
sidecar inbound and on to the app; oha at a fixed rate with latency correction, 16 connections.
Each round measures the app's port directly (no proxy), then the pair as configured (`baseline`),
then the pair with each lever applied alone and reverted, so every lever is compared with a
baseline of the same round. Levers that are Envoy configuration are applied the way `kyc-mesh up`
applies a change: the sidecar's xDS file is rewritten atomically in its watched directory and Envoy
reloads it (the script waits for Envoy's update counter, and reverts to the original content); then
the client sidecar's connection pool to the server is replaced, so no pooled connection stays on a
draining listener of the previous configuration. A
lever that is a process setting (CPU affinity) is applied to every thread of the two Envoys.

Per lever: added latency p50/p90/p99/p99.9 (pair − app of that round), the two sidecars' vCPU per
proxy per 1,000 req/s (from /proc), each as the median of the rounds with its spread; printed as a
table and written as JSON. Needs oha (bench/lib.sh ensure_oha) and python3 only.
"""

import argparse
import copy
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
APPLICANT = HERE / "applicant.json"
CLIENT, SERVER = "kyc-aggregator-mgt", "kyc-credit-check-basic"
HOST, PATH = "kyc-credit-check-basic:8080", "/credit-check/basic"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


class Sidecar:
    """One sidecar Envoy of the running mesh: its xDS files, admin port and process."""

    def __init__(self, state, status, name):
        w = next((w for w in status["workloads"] if w["name"] == name), None)
        if w is None or not w.get("sidecar"):
            die(f"{name} has no sidecar in {state}/run/mesh.json (start the mesh with sidecars)")
        self.name = name
        self.admin = w["sidecar"]["admin"]
        xds = sorted(state.glob("xds-*"), key=lambda p: p.stat().st_mtime)
        if not xds:
            die(f"no xds-* directory under {state}")
        self.dir = xds[-1] / name
        self.pid = self._pid()

    def _pid(self):
        needle = f"{self.dir}/bootstrap.json"
        for p in pathlib.Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    if needle in (p / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                        return int(p.name)
                except OSError:
                    continue
        die(f"no Envoy running {needle}")

    def stat(self, name):
        url = f"http://127.0.0.1:{self.admin}/stats?filter=^{name}$"
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                k, _, v = line.partition(": ")
                if k == name:
                    return int(v)
        return 0

    def cpu_ticks(self):
        f = (pathlib.Path("/proc") / str(self.pid) / "stat").read_text()
        rest = f[f.rindex(")") + 2 :].split()
        return int(rest[11]) + int(rest[12])

    def xds(self, kind):
        return self.dir / kind / f"{kind}.json"

    def write(self, kind, doc):
        """Rewrite one xDS file atomically and wait until Envoy applied it (or rejected it: fatal)."""
        counter = {"lds": "listener_manager.lds", "cds": "cluster_manager.cds"}[kind]
        before = self.stat(f"{counter}.update_success"), self.stat(f"{counter}.update_rejected")
        path = self.xds(kind)
        doc = dict(doc, version_info=f"lever-{time.monotonic_ns()}")
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(doc))
        os.rename(tmp, path)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ok, bad = self.stat(f"{counter}.update_success"), self.stat(f"{counter}.update_rejected")
            if bad > before[1]:
                die(f"{self.name}: Envoy rejected the {kind} change (see its log)")
            if ok > before[0]:
                return
            time.sleep(0.05)
        die(f"{self.name}: Envoy did not apply the {kind} change within 10 s")

    def threads(self):
        return [int(t) for t in os.listdir(f"/proc/{self.pid}/task")]


# --- the levers: each a function (sidecars) -> undo ------------------------------------------------


def fresh_pool(client):
    """A changed listener drains its old connections for minutes (Envoy's drain time), and the
    client sidecar's pooled connections to the server sidecar would stay on the old one: touching
    the client's cluster to the server replaces its connection pool, so every measured request
    crosses the configuration under test."""

    def change(doc):
        for c in doc["resources"]:
            if SERVER in c["name"]:
                c["metadata"] = {"filter_metadata": {"bench": {"pool": str(time.monotonic_ns())}}}

    edit([client], "cds", change)  # kept: nothing to undo, the metadata is inert


def hcms(listeners):
    for lst in listeners["resources"]:
        for fc in lst.get("filter_chains", []):
            for f in fc.get("filters", []):
                if f["name"] == "envoy.filters.network.http_connection_manager":
                    yield lst, fc, f["typed_config"]


def edit(scs, kind, change):
    """Apply change(doc) to the kind file of every sidecar; return the undo."""
    saved = []
    for sc in scs:
        orig = json.loads(sc.xds(kind).read_text())
        saved.append((sc, orig))
        doc = copy.deepcopy(orig)
        change(doc)
        sc.write(kind, doc)

    def undo():
        for sc, orig in saved:
            sc.write(kind, orig)

    return undo


def no_idle_filters(scs):
    """RBAC filters with no policy and the fault filter with no fault: pass-through filters removed."""

    def change(doc):
        for _, _, hcm in hcms(doc):
            hcm["http_filters"] = [
                f
                for f in hcm["http_filters"]
                if not (
                    f["name"].startswith("envoy.filters.http.rbac")
                    and not f["typed_config"].get("rules")
                    and not f["typed_config"].get("shadow_rules")
                )
                and not (f["name"] == "envoy.filters.http.fault" and len(f["typed_config"]) == 1)
            ]

    return edit(scs, "lds", change)


def no_xfcc(scs):
    """No x-forwarded-client-cert header built per request (the inbound's cert details)."""

    def change(doc):
        for _, _, hcm in hcms(doc):
            hcm["forward_client_cert_details"] = "SANITIZE"
            hcm.pop("set_current_client_cert_details", None)

    return edit(scs, "lds", change)


def buffer_32k(scs):
    """per_connection_buffer_limit_bytes 32 KiB on every listener and cluster (Envoy's default: 1 MiB)."""
    undo_l = edit(scs, "lds", lambda d: [l.update(per_connection_buffer_limit_bytes=32768) for l in d["resources"]])
    undo_c = edit(scs, "cds", lambda d: [c.update(per_connection_buffer_limit_bytes=32768) for c in d["resources"]])

    def undo():
        undo_c()
        undo_l()

    return undo


def http2(scs):
    """The client sidecar speaks HTTP/2 to the server sidecar (Istio's h2UpgradePolicy: UPGRADE)."""

    def change(doc):
        for c in doc["resources"]:
            if SERVER in c["name"]:
                opts = c.setdefault("typed_extension_protocol_options", {}).setdefault(
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    {"@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"},
                )
                opts["explicit_http_config"] = {"http2_protocol_options": {}}
                # Offer h2 by ALPN: the server sidecar then inspects the HTTP/2 preface (with the
                # mesh's "istio" ALPN agreed, its AUTO codec would pick HTTP/1.1 and answer 503).
                tls = c.get("transport_socket", {}).get("typed_config", {}).get("common_tls_context")
                if tls is not None:
                    tls["alpn_protocols"] = ["h2"]

    return edit([scs[0]], "cds", change)


def no_health_checks(scs):
    """No active health checks (every 0.5 s per cluster) from the two sidecars."""
    return edit(scs, "cds", lambda d: [c.pop("health_checks", None) for c in d["resources"]])


def pin(cpus):
    def lever(scs):
        saved = []
        for sc, cpu in zip(scs, cpus):
            for t in sc.threads():
                try:
                    saved.append((t, os.sched_getaffinity(t)))
                    os.sched_setaffinity(t, {cpu})
                except OSError:
                    pass

        def undo():
            for t, mask in saved:
                try:
                    os.sched_setaffinity(t, mask)
                except OSError:
                    pass

        return undo

    return lever


LEVERS = {
    "no-idle-filters": no_idle_filters,
    "no-xfcc": no_xfcc,
    "buffer-32k": buffer_32k,
    "http2": http2,
    "no-health-checks": no_health_checks,
    "pin-apart": pin([0, 1]),
    "pin-together": pin([0, 0]),
}


def oha(url, seconds, rate, host=None):
    cmd = ["oha", "--no-tui", "--output-format", "json", "-z", f"{seconds}s", "-w", "-c", "16", "-q", str(rate),
           "--latency-correction", "-t", "5s", "-m", "POST", "-T", "application/json", "-D", str(APPLICANT)]
    if host:
        cmd += ["-H", f"Host: {host}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True)
    if out.returncode != 0:
        die(f"oha failed: {out.stderr or out.stdout}")
    r = json.loads(out.stdout)
    lp = r["latencyPercentiles"]
    bad = sum(v for k, v in r["statusCodeDistribution"].items() if not k.startswith("2"))
    return {
        "rps": r["summary"]["requestsPerSec"],
        "ms": {q: (lp[k] or 0) * 1000 for q, k in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"))},
        "errors": bad + sum(r["errorDistribution"].values()),
    }


def measure_pair(scs, url, seconds, rate):
    before = [sc.cpu_ticks() for sc in scs]
    t0 = time.monotonic()
    r = oha(url, seconds, rate, HOST)
    secs = time.monotonic() - t0
    ticks = sum(sc.cpu_ticks() - b for sc, b in zip(scs, before))
    r["vcpu_per_proxy_per_1000_rps"] = ticks / CLK_TCK / secs / len(scs) / (r["rps"] / 1000)
    return r


def spread(xs):
    return {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3), "max": round(max(xs), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", required=True, type=pathlib.Path, help="the running mesh's state directory")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--levers", default=",".join(LEVERS), help=f"comma-separated, of: {', '.join(LEVERS)}")
    ap.add_argument("--out", type=pathlib.Path)
    a = ap.parse_args()
    chosen = [l for l in a.levers.split(",") if l]
    for l in chosen:
        if l not in LEVERS:
            die(f"unknown lever {l!r} (known: {', '.join(LEVERS)})")
    status = json.loads((a.state / "run" / "mesh.json").read_text())
    scs = [Sidecar(a.state, status, CLIENT), Sidecar(a.state, status, SERVER)]
    out_port = next(w for w in status["workloads"] if w["name"] == CLIENT)["sidecar"]["outbound"]
    app_port = next(w for w in status["workloads"] if w["name"] == SERVER)["instance"]["port"]
    pair_url, app_url = f"http://127.0.0.1:{out_port}{PATH}", f"http://127.0.0.1:{app_port}{PATH}"
    runs = []
    for rnd in range(1, a.rounds + 1):
        if a.warmup:
            oha(pair_url, a.warmup, a.rate, HOST)
        app = oha(app_url, a.seconds, a.rate)
        for name in ["baseline"] + chosen:
            undo = LEVERS[name](scs) if name != "baseline" else (lambda: None)
            try:
                fresh_pool(scs[0])
                if a.warmup:
                    oha(pair_url, a.warmup, a.rate, HOST)
                r = measure_pair(scs, pair_url, a.seconds, a.rate)
            finally:
                undo()
            r.update(lever=name, round=rnd, added_ms={q: r["ms"][q] - app["ms"][q] for q in app["ms"]})
            runs.append(r)
            print(f"==> round {rnd}/{a.rounds} {name}: added p90 {r['added_ms']['p90']:+.3f} p99 "
                  f"{r['added_ms']['p99']:+.3f} ms, {r['vcpu_per_proxy_per_1000_rps']:.3f} vCPU/proxy/1000 req/s, "
                  f"errors {r['errors']}", file=sys.stderr)
    summary = {}
    for name in ["baseline"] + chosen:
        rs = [r for r in runs if r["lever"] == name]
        summary[name] = {
            "added_ms": {q: spread([r["added_ms"][q] for r in rs]) for q in ("p50", "p90", "p99", "p99_9")},
            "vcpu_per_proxy_per_1000_rps": spread([r["vcpu_per_proxy_per_1000_rps"] for r in rs]),
            "errors": sum(r["errors"] for r in rs),
            "doc": (LEVERS[name].__doc__ or "").strip() if name != "baseline" else "as `kyc-mesh up` configures it",
        }
    print(f"  {'lever':<18}{'p50 added':>11}{'p90 added':>11}{'p99 added':>11}{'p99.9 added':>13}{'vCPU/proxy/1k':>15}  errors")
    for name, s in summary.items():
        m = s["added_ms"]
        print(f"  {name:<18}{m['p50']['median']:>+11.3f}{m['p90']['median']:>+11.3f}{m['p99']['median']:>+11.3f}"
              f"{m['p99_9']['median']:>+13.3f}{s['vcpu_per_proxy_per_1000_rps']['median']:>15.3f}  {s['errors']}")
    result = {"rate": a.rate, "seconds": a.seconds, "rounds": a.rounds, "summary": summary, "runs": runs}
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=1))
        print(f"levers results: {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
