#!/usr/bin/env python3
"""Render bench/resilience JSON results as Markdown tables (for BENCHMARKS.md).

Usage: bench/render.py [--into FILE] RUN.json [RUN2.json ...] [--resilience RES.json]

With --into, replaces the text between `<!-- results: begin -->` and `<!-- results: end -->`
(the measured tables) and between `<!-- side-by-side: begin -->` and `<!-- side-by-side: end -->`
(measured figures next to the published ones, with their sources) in FILE; otherwise prints.
"""

import argparse
import json
import re
import sys

SERVICES = ["kyc-aggregator-mgt", "kyc-credit-check-basic", "kyc-credit-check-advanced"]
PROCS = SERVICES + ["envoy", "kyc-mesh"]
SHORT = {"kyc-aggregator-mgt": "aggregator", "kyc-credit-check-basic": "basic",
         "kyc-credit-check-advanced": "advanced", "envoy": "Envoy", "kyc-mesh": "kyc-mesh"}


def mb(kb):
    return f"{kb / 1024:.1f}"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def verdict(v):
    return "not measured" if v is None else ("**met**" if v else "**missed**")


def render(runs, res):
    out = []
    m = runs[0]["machine"]
    out.append("### Machine and settings (measured here)\n")
    out.append(table(["", ""], [
        ["CPU", f"{m['nproc']} cores, {m['cpu']}"],
        ["memory", m["memory"]],
        ["kernel", m["kernel"]],
        ["Envoy", m["envoy"]], ["load generator", m["wrk"]], ["rustc", m["rustc"]],
        ["commit", ", ".join(r["machine"]["commit"] for r in runs)],
        ["runs", "; ".join(f"run {i + 1}: {r['machine']['date']}, load average at start {r['machine']['load_average_at_start']}"
                            for i, r in enumerate(runs))],
        ["load", f"{runs[0]['settings']['connections']} connections, {runs[0]['settings']['wrk_threads']} wrk threads, "
                 f"{runs[0]['settings']['warmup_s']} s warm-up + {runs[0]['settings']['duration_s']} s measured per path; "
                 f"service log level {runs[0]['settings']['log_level']}"],
    ]))
    out.append("")

    out.append("### Throughput and latency (measured here)\n")
    rows = []
    for i, r in enumerate(runs):
        for p in r["paths"]:
            l = p["latency_ms"]
            rows.append([f"{i + 1}", p["label"], f"{p['rps']:.0f}", f"{l['p50']:.2f}", f"{l['p99']:.2f}",
                         f"{l['p99_9']:.2f}", p["errors"]["total"], p["requests"]])
    out.append(table(["run", "path", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "requests"], rows))
    out.append("")
    rows = [[f"{i + 1}", f"{r['ratios']['gateway_over_direct']:.3f}", f"{r['ratios']['chain_over_gateway']:.3f}"]
            for i, r in enumerate(runs)]
    out.append(table(["run", "gateway / direct-basic (req/s)", "chain / gateway (req/s)"], rows))
    out.append("")
    if len(runs) > 1:
        rows = []
        for p1 in runs[0]["paths"]:
            for i, r in enumerate(runs[1:], start=2):
                p2 = next(p for p in r["paths"] if p["label"] == p1["label"])
                d_rps = (p2["rps"] - p1["rps"]) / p1["rps"] * 100
                d_p99 = p2["latency_ms"]["p99"] - p1["latency_ms"]["p99"]
                rows.append([p1["label"], f"{i}", f"{d_rps:+.1f} %", f"{d_p99:+.2f} ms"])
        out.append("Each run against run 1:\n")
        out.append(table(["path", "run", "req/s", "p99"], rows))
        out.append("")

    out.append("CPU time per request, by process (ms; from /proc/PID/stat over the measured window, run 1). "
               "`kyc-mesh` only relays the services' log lines to its terminal: it is not on the request path "
               "and does not exist in the cluster.\n")
    r = runs[0]
    rows = []
    for p in r["paths"]:
        c = p["cpu_ms_per_request"]
        total = sum(v for v in c.values() if v)
        rows.append([p["label"]] + [f"{c[k]:.3f}" if c.get(k) else "-" for k in PROCS] + [f"{total:.3f}"])
    out.append(table(["path"] + [SHORT[k] for k in PROCS] + ["sum"], rows))
    out.append("")

    out.append("### Memory (measured here: VmRSS from /proc/PID/status)\n")
    rows = []
    for k in PROCS:
        row = [SHORT[k]]
        for r in runs:
            sk = r["soak"]
            row.append(mb(r["rss_kb_after_load"][k]))
            row.append(f"{sk[-1]['served'][k]:,}" if len(sk) > 1 and k in sk[-1]["served"] else "-")
            row.append(mb(sk[-1]["rss_kb"][k]) if len(sk) > 1 else "-")
        rows.append(row)
    head = ["process"]
    for i, _ in enumerate(runs):
        head += [f"run {i + 1}: MB after the paths", f"run {i + 1}: requests served at soak end", f"run {i + 1}: MB at soak end"]
    out.append(table(head, rows))
    out.append("")
    sk = runs[0]["soak"]
    if len(sk) > 1:
        step = max(1, len(sk) // 12)
        picked = sk[::step] + ([sk[-1]] if (len(sk) - 1) % step else [])
        out.append(f"Soak curve (run 1; chain load, {runs[0]['settings']['connections']} connections, "
                   f"RSS in MB after every {runs[0]['settings']['soak_sample_s']} s of load"
                   + (f"; one sample in {step} shown" if step > 1 else "") + "):\n")
        rows = [[s["t_s"], f"{s['served']['kyc-aggregator-mgt']:,}", f"{s['served']['kyc-credit-check-basic']:,}",
                 f"{s['served']['kyc-credit-check-advanced']:,}"] + [mb(s["rss_kb"][k]) for k in PROCS] + [s["errors"]]
                for s in picked]
        out.append(table(["t s", "served agg", "served basic", "served adv"] + [SHORT[k] for k in PROCS] + ["errors"], rows))
        out.append("")

    out.append("### Start-up and size (measured here)\n")
    rows = []
    for k in SERVICES:
        row = [SHORT[k]]
        for r in runs:
            rd = r["ready_ms"][k]
            row += [f"{rd['best_ms']:.1f}", f"{rd['median_ms']:.1f}"]
        row.append(f"{runs[0]['binary_size_bytes'][k] / 1048576:.1f}")
        rows.append(row)
    head = ["binary"]
    for i, _ in enumerate(runs):
        head += [f"run {i + 1}: exec → /readyz 200, best ms", f"run {i + 1}: median ms"]
    head.append("release binary MB")
    out.append(table(head, rows))
    out.append("")

    out.append("### Targets\n")
    names = {
        "chain_at_least_half_of_gateway": "chain ≥ 50 % of gateway-hop req/s",
        "chain_p99_under_10ms_zero_errors": "chain p99 < 10 ms at 16 connections, zero errors",
        "rss_under_20mb_after_100k": "each service < 20 MB RSS after 100k requests",
        "no_rss_growth_over_soak": "no RSS growth over the soak (≤ 1 MB from a quarter of the soak to its end)",
        "ready_under_50ms": "each service ready < 50 ms from exec",
    }
    rows = [[names[k]] + [verdict(r["targets"][k]) for r in runs] for k in names]
    out.append(table(["target"] + [f"run {i + 1}" for i in range(len(runs))], rows))
    out.append("")

    if res:
        out.append("### Resilience (measured here, `scripts/resilience.sh`)\n")
        rows = []
        if "retries" in res:
            on, off = res["retries"]["retries_on"], res["retries"]["retries_off"]
            rows.append(["flaky advanced scorer (20 % injected 503), chain `type=report`, retry policy of networking/ (`attempts: 3`, `retryOn: 5xx,…`)",
                         f"{on['failed_percent']} % failed ({on['errors']['total']} of {on['requests']:,})"])
            rows.append(["same, `kyc-mesh use no-retries`",
                         f"{off['failed_percent']} % failed ({off['errors']['total']} of {off['requests']:,})"])
        if "kill" in res:
            k = res["kill"]
            p = k["runs"][0]["probe"]
            rows.append(["advanced scorer SIGKILLed under chain load: first error JSON from the aggregator "
                         "(`type=advancedReport`), with the route's retries",
                         f"median {k['median_ms']} ms after the kill (runs: {', '.join(str(x) for x in k['first_error_json_ms'])} ms): "
                         f"{p.get('status')} `{p.get('errorCode')}`; mesh kept running: " + ("yes" if k["mesh_still_running"] else "no")])
        if "kill_no_retries" in res:
            k = res["kill_no_retries"]
            rows.append(["same, `kyc-mesh use no-retries` before the kill",
                         f"median {k['median_ms']} ms (runs: {', '.join(str(x) for x in k['first_error_json_ms'])} ms)"])
        if "sigterm" in res:
            s = res["sigterm"]
            rows.append([f"advanced scorer SIGTERMed with {s['concurrency']} clients, scorer answering after {s['scorer_delay_ms']} ms",
                         f"{s['in_flight_at_signal']['requests']} in flight, **{s['lost_in_flight']} lost**; last answered "
                         f"{s['last_in_flight_answered_ms_after_signal']} ms after the signal "
                         f"(of the requests sent after it, {s['sent_after_signal']['failed']} of {s['sent_after_signal']['requests']} "
                         f"failed: no other instance of the scorer runs locally)"])
        if "reweight" in res:
            rw = res["reweight"]
            edits = ", ".join(f"{e['weights']['basic']}/{e['weights']['advanced']} in {e['edit_to_applied_ms']} ms "
                              f"(split {e['split_200_after']['basic']}/{e['split_200_after']['advanced']})" for e in rw["edits"])
            rows.append(["live reweight under chain load (4 edits of a copy of networking/)",
                         f"**{rw['failed_requests']} failed** of {rw['load']['requests']:,}; save → applied: {edits}"])
        out.append(table(["experiment", "result"], rows))
        out.append("")
    return "\n".join(out)


SOURCES = {
    "spring_rss": "[Spring blog, D. Syer, \"Spring Boot Memory Performance\" (2015)](https://spring.io/blog/2015/12/10/spring-boot-memory-performance): "
                  "vanilla Spring Boot web app, `java -Xmx32m -Xss256k`, \"RSS values are in the range 150-190MB according to `ps`\"",
    "spring_start": "[D. Syer (Spring team), spring-boot-startup-bench, `static/README.adoc`](https://github.com/dsyer/spring-boot-startup-bench/blob/master/static/README.adoc): "
                    "\"demo\" (vanilla Spring Boot MVC app, one endpoint) 1.056 s on a desktop, 1.697 s on a laptop, exec to \"Started\"",
    "openjdk": "[docker-library/openjdk#340](https://github.com/docker-library/openjdk/issues/340): `docker images` lists `openjdk:11` at 604 MB (`11-slim`: 384 MB)",
    "istio": "[Istio, Performance and Scalability](https://istio.io/latest/docs/ops/deployment/performance-and-scalability/), section "
             "\"Sidecar and ztunnel resource usage\" (figures for Istio 1.24): at 1000 HTTP requests/s with 1 KB payloads, one sidecar proxy "
             "with 2 worker threads uses about 0.20 vCPU and 60 MB",
}


def side_by_side(runs):
    r = runs[0]
    svc_rss = [r["soak"][-1]["rss_kb"][k] if len(r["soak"]) > 1 else r["rss_kb_after_load"][k] for k in SERVICES]
    ready = [r["ready_ms"][k]["best_ms"] for k in SERVICES]
    ready_med = [r["ready_ms"][k]["median_ms"] for k in SERVICES]
    sizes = [r["binary_size_bytes"][k] / 1048576 for k in SERVICES]
    envoy_rss = r["soak"][-1]["rss_kb"]["envoy"] if len(r["soak"]) > 1 else r["rss_kb_after_load"]["envoy"]
    paced = r.get("paced_chain_1000rps")
    rows = [
        ["RSS of one service under load",
         "150–190 MB (QUOTED¹)",
         f"{mb(min(svc_rss))}–{mb(max(svc_rss))} MB after {min(r['soak'][-1]['served'][k] for k in SERVICES):,}+ requests each (MEASURED)"
         if len(r["soak"]) > 1 else f"{mb(min(svc_rss))}–{mb(max(svc_rss))} MB (MEASURED)"],
        ["the three services together", "≈ 450–570 MB (3 × QUOTED¹, derived)", f"{mb(sum(svc_rss))} MB (MEASURED)"],
        ["start-up", "1.1–1.7 s to \"Started\" (QUOTED²)",
         f"{min(ready):.1f}–{max(ready):.1f} ms exec → `/readyz` 200, best of {len(r['ready_ms'][SERVICES[0]]['runs_ms'])}; medians "
         f"{min(ready_med):.1f}–{max(ready_med):.1f} ms (MEASURED)"],
        ["what ships", "`openjdk:11` base image alone: 604 MB (QUOTED³), plus the app jar",
         f"stripped release binary {min(sizes):.1f}–{max(sizes):.1f} MB (MEASURED) on a `distroless/cc-debian12` base (image size not measured here: no Docker engine)"],
    ]
    if paced:
        ev = paced["vcpu"]["envoy"]
        rows.append(["Envoy, per proxy",
                     "Istio 1.24 sidecar: ≈ 0.20 vCPU and 60 MB at 1000 req/s, 1 KB payloads, 2 worker threads (QUOTED⁴)",
                     f"Envoy 1.40 as the local gateway: {ev:.2f} vCPU at {paced['rps']:.0f} req/s (paced chain; "
                     f"{paced['vcpu_per_1000_rps']['envoy']:.2f} vCPU per 1000 req/s), {mb(envoy_rss)} MB RSS; 2 workers, plain HTTP, 256-byte request bodies, no telemetry filters (MEASURED)"])
        agg = paced["vcpu_per_1000_rps"]["kyc-aggregator-mgt"]
        sc = (paced["vcpu"]["kyc-credit-check-basic"] + paced["vcpu"]["kyc-credit-check-advanced"]) / (paced["rps"] / 1000)
        rows.append(["the services themselves, per 1000 req/s of chain traffic", "—",
                     f"aggregator {agg:.2f} vCPU, both scorers together {sc:.2f} vCPU (MEASURED, same paced run)"])
    out = [table(["", "Spring Boot original / Istio", "this rewrite (Rust) / local Envoy"], rows), ""]
    out += [f"- {n} {SOURCES[k]}." for n, k in zip(["¹", "²", "³", "⁴"], ["spring_rss", "spring_start", "openjdk", "istio"])]
    return "\n".join(out)


def path_of(r, label):
    return next(p for p in r["paths"] if p["label"] == label)


def targets_text(runs):
    def each(f):
        return " / ".join(f(r) for r in runs)

    def soak_growth(r, k):
        sk = r["soak"]
        return sk[-1]["rss_kb"][k] - sk[len(sk) // 4]["rss_kb"][k] if len(sk) > 1 else None

    n = len(runs)
    lines = [f"Figures are run 1 / run 2{' / …' if n > 2 else ''} (tables above)."]
    lines.append("- **Chain ≥ 50 % of the gateway hop's req/s: "
                 + each(lambda r: verdict(r["targets"]["chain_at_least_half_of_gateway"]).strip("*")) + "** — chain/gateway "
                 + each(lambda r: f"{r['ratios']['chain_over_gateway']:.3f}")
                 + ". CPU per request (all processes, ms): chain "
                 + each(lambda r: f"{sum(v for v in path_of(r, 'chain')['cpu_ms_per_request'].values() if v):.3f}")
                 + " (aggregator "
                 + each(lambda r: f"{path_of(r, 'chain')['cpu_ms_per_request']['kyc-aggregator-mgt']:.3f}")
                 + "), gateway hop "
                 + each(lambda r: f"{sum(v for v in path_of(r, 'gateway')['cpu_ms_per_request'].values() if v):.3f}")
                 + "; wrk's own share comes on top of both.")
    lines.append("- **Chain p99 < 10 ms at 16 connections with zero errors: "
                 + each(lambda r: verdict(r["targets"]["chain_p99_under_10ms_zero_errors"]).strip("*")) + "** — p99 "
                 + each(lambda r: f"{path_of(r, 'chain')['latency_ms']['p99']:.2f} ms") + ", p99.9 "
                 + each(lambda r: f"{path_of(r, 'chain')['latency_ms']['p99_9']:.2f} ms") + ", errors "
                 + each(lambda r: str(path_of(r, 'chain')['errors']['total'])) + ", with the box saturated by wrk itself.")
    lines.append("- **Each service < 20 MB RSS after 100k requests: "
                 + each(lambda r: verdict(r["targets"]["rss_under_20mb_after_100k"]).strip("*")) + "** — at the end of the soak: "
                 + each(lambda r: ", ".join(f"{SHORT[k]} {mb(r['soak'][-1]['rss_kb'][k])} MB" for k in SERVICES) if len(r["soak"]) > 1 else "no soak")
                 + ".")
    lines.append("- **No growth over the soak: "
                 + each(lambda r: verdict(r["targets"]["no_rss_growth_over_soak"]).strip("*")) + "** — RSS change from a quarter of the soak to its end: "
                 + each(lambda r: ", ".join(f"{SHORT[k]} {soak_growth(r, k):+d} kB" for k in SERVICES) if len(r["soak"]) > 1 else "no soak")
                 + " (curve: the soak table above).")
    lines.append("- **Each service ready < 50 ms from exec: "
                 + each(lambda r: verdict(r["targets"]["ready_under_50ms"]).strip("*")) + "** — best "
                 + each(lambda r: f"{min(r['ready_ms'][k]['best_ms'] for k in SERVICES):.1f}–{max(r['ready_ms'][k]['best_ms'] for k in SERVICES):.1f} ms")
                 + " (fork + exec of the binary, configuration, binding, first answered probe, measured from a Python parent).")
    return "\n\n".join(lines[:1] + ["\n".join(lines[1:])])


def readme_summary(runs, res):
    r = runs[0]
    ch, gw, db = path_of(r, "chain"), path_of(r, "gateway"), path_of(r, "direct-basic")
    sk = r["soak"]
    rss = [sk[-1]["rss_kb"][k] if len(sk) > 1 else r["rss_kb_after_load"][k] for k in SERVICES]
    ready = [r["ready_ms"][k]["best_ms"] for k in SERVICES]
    rows = [
        ["scorer direct / gateway → scorer / full chain, 16 connections",
         f"{db['rps']:,.0f} / {gw['rps']:,.0f} / {ch['rps']:,.0f} req/s; chain p99 {ch['latency_ms']['p99']:.1f} ms, "
         f"{ch['errors']['total']} errors; chain/gateway {r['ratios']['chain_over_gateway']:.3f} (target ≥ 0.5)"],
        ["RSS per service (after the soak)", f"{mb(min(rss))}–{mb(max(rss))} MB, flat (Spring Boot: 150–190 MB, quoted)"],
        ["exec → `/readyz` 200", f"{min(ready):.1f}–{max(ready):.1f} ms (Spring Boot: 1.1–1.7 s, quoted)"],
        ["release binary", f"{min(r['binary_size_bytes'][k] for k in SERVICES) / 1048576:.1f}–{max(r['binary_size_bytes'][k] for k in SERVICES) / 1048576:.1f} MB"],
    ]
    if r.get("paced_chain_1000rps"):
        pc = r["paced_chain_1000rps"]
        rows.append(["Envoy (the gateway), paced chain", f"{pc['vcpu']['envoy']:.2f} vCPU at {pc['rps']:.0f} req/s, "
                     f"{mb(sk[-1]['rss_kb']['envoy'] if len(sk) > 1 else r['rss_kb_after_load']['envoy'])} MB "
                     "(Istio 1.24 sidecar: ≈ 0.20 vCPU, 60 MB at 1000 req/s, quoted)"])
    if res:
        bits = []
        if "retries" in res:
            bits.append(f"20 % injected scorer errors: {res['retries']['retries_on']['failed_percent']} % failed end-to-end "
                        f"with the retry policy, {res['retries']['retries_off']['failed_percent']} % without")
        if "sigterm" in res:
            bits.append(f"SIGTERM under load: {res['sigterm']['lost_in_flight']} of {res['sigterm']['in_flight_at_signal']['requests']} in-flight requests lost")
        if "reweight" in res:
            bits.append(f"live reweight under load: {res['reweight']['failed_requests']} failed of {res['reweight']['load']['requests']:,}")
        rows.append(["resilience", "; ".join(bits)])
    head = f"Measured on this project's 2-core development VM ({r['machine']['cpu']}, everything on the same cores), run 1 of BENCHMARKS.md:"
    return head + "\n\n" + table(["", ""], rows)


def replace_between(text, name, md, path):
    pat = re.compile(r"(<!-- " + name + r": begin -->\n).*?(<!-- " + name + r": end -->)", re.S)
    if not pat.search(text):
        sys.exit(f"{path}: no <!-- {name}: begin --> ... <!-- {name}: end --> markers")
    return pat.sub(lambda m: m.group(1) + "\n" + md + "\n\n" + m.group(2), text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--resilience")
    ap.add_argument("--into")
    ap.add_argument("--readme", help="also refresh the summary between <!-- bench-summary: begin/end --> in this file")
    a = ap.parse_args()
    runs = [json.load(open(f)) for f in a.runs]
    res = json.load(open(a.resilience)) if a.resilience else None
    md = render(runs, res)
    side = side_by_side(runs)
    if not a.into:
        print(md + "\n\n### Side-by-side\n\n" + side + "\n\n### Targets\n\n" + targets_text(runs)
              + "\n\n### README summary\n\n" + readme_summary(runs, res))
        return
    text = open(a.into).read()
    text = replace_between(text, "results", md, a.into)
    text = replace_between(text, "side-by-side", side, a.into)
    text = replace_between(text, "targets", targets_text(runs), a.into)
    open(a.into, "w").write(text)
    if a.readme:
        text = open(a.readme).read()
        open(a.readme, "w").write(replace_between(text, "bench-summary", readme_summary(runs, res), a.readme))


if __name__ == "__main__":
    main()
