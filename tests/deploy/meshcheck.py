"""Cross-reference checks on networking/, in the spirit of `istioctl analyze`, without a cluster.

An independent second analyzer, on purpose: `kyc-mesh check` (Rust) validates networking/ for
what the local mesh translates; this one (Python, written separately from the manifests' side)
checks them for the cluster (Service port naming, Gateway hosts and ports against the demo
profile's ingress gateway, duplicates). Where the two look at the same problem they use the
same code, and test_meshcheck.py runs both on networking/, every scenario and every broken copy
and requires them to agree on those codes (IST0101, IST0127, IST0173, IST0174, KYC0001): a
disagreement is a bug in one of them. The other codes are this analyzer's alone.

Schema validation says each object is well formed; these checks say the objects fit together:

  IST0101  a referenced resource is missing: a VirtualService gateway, destination host,
           destination port or subset; a Gateway's workload selector; a route's backend
  IST0118  a Service port is neither named after its protocol (http, http2, grpc, tcp, ...)
           nor carries appProtocol, so Istio cannot treat it as HTTP
  IST0132  a VirtualService host is not served by one of its Gateways
  IST0162  a Gateway listens on a port the ingress gateway's Service does not expose
  IST0173  a DestinationRule subset selects no pods
  IST0174  a DestinationRule host matches no Service
  IST0127  a security policy (PeerAuthentication/RequestAuthentication/AuthorizationPolicy)
           selects no pods
  KYC0001  route weights do not sum to 100 (or are negative): Istio's webhook refuses them
  KYC0002  a Service selects no pods, or targets a container port no pod declares
  KYC0004  the same object (kind, namespace, name) is defined twice

The "cluster side" is the Istio demo profile's ingress gateway (fixtures/); pass other
objects with `cluster=` to model something else.

CLI: python meshcheck.py NETWORKING_DIR [--scenario FILE]   (exit 1 when anything is found)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

HERE = Path(__file__).resolve().parent
INGRESS_FIXTURE = HERE / "fixtures" / "istio-demo-ingressgateway.yaml"
DEFAULT_NAMESPACE = "default"

ISTIO_NET = "networking.istio.io"
ISTIO_SEC = "security.istio.io"
GATEWAY_API = "gateway.networking.k8s.io"

# Istio's protocol selection: port name "<protocol>[-<suffix>]" (or appProtocol).
PROTOCOL_PREFIXES = (
    "http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "mysql", "redis", "udp",
)


@dataclass(frozen=True)
class Finding:
    code: str
    obj: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} ({self.obj}) {self.message}"


# ---------------------------------------------------------------------------------------------
# loading


def load_file(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        docs = [d for d in yaml.safe_load_all(handle) if d is not None]
    for d in docs:
        if not isinstance(d, dict):
            raise ValueError(f"{path}: a document is not a mapping")
        d.setdefault("metadata", {})
    return docs


def yaml_files(directory: Path) -> list[Path]:
    """The files `kubectl apply -f DIR` applies: *.yaml, *.yml, *.json at the top level only."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml", ".json"))


def load_dir(directory: Path) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for path in yaml_files(directory):
        objs.extend(load_file(path))
    return objs


def group_of(obj: dict[str, Any]) -> str:
    api = str(obj.get("apiVersion", ""))
    return api.split("/", 1)[0] if "/" in api else ""


def ns_of(obj: dict[str, Any]) -> str:
    return obj.get("metadata", {}).get("namespace") or DEFAULT_NAMESPACE


def name_of(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def key_of(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    return (group_of(obj), str(obj.get("kind", "")), ns_of(obj), name_of(obj))


def overlay(base: Iterable[dict[str, Any]], extra: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """`kubectl apply` of `extra` on top of `base`: same group/kind/namespace/name replaces."""
    result = {key_of(o): o for o in base}
    for o in extra:
        result[key_of(o)] = o
    return list(result.values())


def label(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')} {ns_of(obj)}/{name_of(obj)}"


# ---------------------------------------------------------------------------------------------
# helpers


def pod_templates(objs: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """(namespace, pod labels, pod spec) of every workload."""
    pods = []
    for o in objs:
        kind = o.get("kind")
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            tmpl = o.get("spec", {}).get("template", {})
            pods.append((ns_of(o), dict(tmpl.get("metadata", {}).get("labels") or {}), tmpl.get("spec") or {}))
        elif kind == "Pod":
            pods.append((ns_of(o), dict(o["metadata"].get("labels") or {}), o.get("spec") or {}))
    return pods


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def matching_pods(pods, namespace: str | None, selector: dict[str, str]):
    return [p for p in pods if (namespace is None or p[0] == namespace) and selects(selector, p[1])]


def services(objs) -> dict[tuple[str, str], dict[str, Any]]:
    return {(ns_of(o), name_of(o)): o for o in objs if o.get("kind") == "Service" and group_of(o) == ""}


def resolve_host(host: str, namespace: str) -> tuple[str, str] | None:
    """(namespace, service) a VirtualService/DestinationRule host names, like Istio's short names."""
    parts = host.split(".")
    if len(parts) == 1:
        return (namespace, host)
    if len(parts) == 2:
        return (parts[1], parts[0])
    if len(parts) == 3 and parts[2] == "svc":
        return (parts[1], parts[0])
    if len(parts) == 5 and parts[2:] == ["svc", "cluster", "local"]:
        return (parts[1], parts[0])
    return None


def host_matches(pattern: str, host: str) -> bool:
    """Istio host matching: '*' matches all, '*.x' a suffix, anything else exactly."""
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host == pattern or host.endswith(pattern[1:]) or (host.startswith("*.") and host.endswith(pattern[1:]))
    return pattern == host


def service_port_numbers(svc: dict[str, Any]) -> set[int]:
    return {int(p["port"]) for p in svc.get("spec", {}).get("ports", []) if "port" in p}


# ---------------------------------------------------------------------------------------------
# checks


def analyze(objs: list[dict[str, Any]], cluster: list[dict[str, Any]] | None = None) -> list[Finding]:
    if cluster is None:
        cluster = load_file(INGRESS_FIXTURE)
    findings: list[Finding] = []
    add = lambda code, obj, msg: findings.append(Finding(code, label(obj), msg))  # noqa: E731

    # KYC0004: duplicates within the set being applied
    seen: dict[tuple[str, str, str, str], int] = {}
    for o in objs:
        seen[key_of(o)] = seen.get(key_of(o), 0) + 1
    for o in objs:
        if seen.get(key_of(o), 0) > 1:
            add("KYC0004", o, "defined more than once")
            seen[key_of(o)] = 0

    everything = list(cluster) + list(objs)
    pods = pod_templates(everything)
    svcs = services(everything)
    own_services = [o for o in objs if o.get("kind") == "Service" and group_of(o) == ""]
    istio_gateways = {(ns_of(o), name_of(o)): o for o in objs if o.get("kind") == "Gateway" and group_of(o) == ISTIO_NET}
    api_gateways = {(ns_of(o), name_of(o)): o for o in objs if o.get("kind") == "Gateway" and group_of(o) == GATEWAY_API}
    drs = [o for o in objs if o.get("kind") == "DestinationRule" and group_of(o) == ISTIO_NET]

    def subsets_for(svc_key: tuple[str, str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for dr in drs:
            target = resolve_host(str(dr.get("spec", {}).get("host", "")), ns_of(dr))
            if target == svc_key:
                for s in dr["spec"].get("subsets") or []:
                    found[str(s.get("name"))] = s
        return found

    # Services: port naming (IST0118), selection (KYC0002)
    for svc in own_services:
        spec = svc.get("spec", {})
        selector = spec.get("selector") or {}
        selected = matching_pods(pods, ns_of(svc), selector) if selector else []
        if selector and not selected:
            add("KYC0002", svc, f"selector {selector} selects no pods")
        for port in spec.get("ports", []):
            name = str(port.get("name", ""))
            if not port.get("appProtocol") and not any(
                name == p or name.startswith(p + "-") for p in PROTOCOL_PREFIXES
            ):
                add("IST0118", svc, f"port {port.get('port')} name {name!r} does not follow <protocol>[-suffix] and has no appProtocol")
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str) and selected:
                for _, _, pod_spec in selected:
                    names = {
                        cp.get("name")
                        for c in pod_spec.get("containers", [])
                        for cp in c.get("ports", []) or []
                    }
                    if target not in names:
                        add("KYC0002", svc, f"targetPort {target!r} is not a named container port of the selected pods")
                        break

    # Istio Gateways: selector (IST0101) and port exposed (IST0162)
    for gw in istio_gateways.values():
        spec = gw.get("spec", {})
        selector = spec.get("selector") or {}
        gw_pods = matching_pods(pods, None, selector)
        if not gw_pods:
            add("IST0101", gw, f"Referenced selector not found: {selector}")
            continue
        exposed: set[int] = set()
        for (svc_ns, _), svc in svcs.items():
            sel = svc.get("spec", {}).get("selector") or {}
            if sel and any(p[0] == svc_ns and selects(sel, p[1]) for p in gw_pods):
                exposed |= service_port_numbers(svc)
        for server in spec.get("servers", []):
            number = server.get("port", {}).get("number")
            if number not in exposed:
                add("IST0162", gw, f"port {number} is not exposed by the Service of the gateway workload {selector} (exposes {sorted(exposed)})")

    # VirtualServices
    for vs in (o for o in objs if o.get("kind") == "VirtualService" and group_of(o) == ISTIO_NET):
        spec = vs.get("spec", {})
        ns = ns_of(vs)
        gw_servers_hosts: list[tuple[str, list[str]]] = []
        for gw_ref in spec.get("gateways", []) or []:
            if gw_ref == "mesh":
                continue
            gw_ns, gw_name = gw_ref.split("/", 1) if "/" in gw_ref else (ns, gw_ref)
            gw = istio_gateways.get((gw_ns, gw_name))
            if gw is None:
                add("IST0101", vs, f"Referenced gateway not found: {gw_ref!r}")
                continue
            hosts = [h.split("/", 1)[-1] for s in gw.get("spec", {}).get("servers", []) for h in s.get("hosts", [])]
            gw_servers_hosts.append((gw_ref, hosts))
        for host in spec.get("hosts", []) or []:
            for gw_ref, gw_hosts in gw_servers_hosts:
                if not any(host_matches(g, host) for g in gw_hosts):
                    add("IST0132", vs, f"host {host!r} is not in the hosts {gw_hosts} of gateway {gw_ref!r}")

        for i, http in enumerate(spec.get("http", []) or []):
            where = f"http[{i}]" + (f" ({http['name']})" if http.get("name") else "")
            dests = [r.get("destination", {}) for r in http.get("route", []) or []]
            if http.get("mirror"):
                dests.append(http["mirror"])
            dests += [m.get("destination", {}) for m in http.get("mirrors", []) or []]
            for dest in dests:
                host = str(dest.get("host", ""))
                svc_key = resolve_host(host, ns)
                svc = svcs.get(svc_key) if svc_key else None
                if svc is None:
                    add("IST0101", vs, f"{where}: Referenced host not found: {host!r}")
                    continue
                number = dest.get("port", {}).get("number")
                ports = service_port_numbers(svc)
                if number is not None and number not in ports:
                    add("IST0101", vs, f"{where}: Referenced host:port not found: {host}:{number} (ports {sorted(ports)})")
                if number is None and len(ports) > 1:
                    add("IST0101", vs, f"{where}: {host} has several ports and the destination names none")
                subset = dest.get("subset")
                if subset is not None and subset not in subsets_for(svc_key):
                    add("IST0101", vs, f"{where}: Referenced host+subset in destinationrule not found: {host!r}+{subset!r}")
            weights = [r.get("weight") for r in http.get("route", []) or []]
            if any(w is not None and w < 0 for w in weights):
                add("KYC0001", vs, f"{where}: negative weight {weights}")
            if len(weights) > 1 or any(w is not None for w in weights):
                total = sum(w or 0 for w in weights)
                if total != 100:
                    add("KYC0001", vs, f"{where}: route weights {weights} sum to {total}, not 100")

    # DestinationRules: host (IST0174), subsets select pods (IST0173)
    for dr in drs:
        spec = dr.get("spec", {})
        svc_key = resolve_host(str(spec.get("host", "")), ns_of(dr))
        svc = svcs.get(svc_key) if svc_key else None
        if svc is None:
            add("IST0174", dr, f"The host {spec.get('host')!r} defined in the DestinationRule does not match any services in the mesh")
            continue
        base_selector = svc.get("spec", {}).get("selector") or {}
        names: set[str] = set()
        for s in spec.get("subsets", []) or []:
            if s.get("name") in names:
                add("IST0101", dr, f"subset {s.get('name')!r} defined twice")
            names.add(s.get("name"))
            selector = {**base_selector, **(s.get("labels") or {})}
            if not matching_pods(pods, svc_key[0], selector):
                add("IST0173", dr, f"The Subset {s.get('name')!r} defined in the DestinationRule does not select any pods ({selector})")

    # Security policies: their selectors must select pods (IST0127)
    for pol in (o for o in objs if group_of(o) == ISTIO_SEC):
        selector = (pol.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        if selector and not matching_pods(pods, ns_of(pol), selector):
            add("IST0127", pol, f"selector {selector} selects no pods")

    # Gateway API: parentRefs, backendRefs, weights
    for route in (o for o in objs if o.get("kind") == "HTTPRoute" and group_of(o) == GATEWAY_API):
        ns = ns_of(route)
        for ref in route.get("spec", {}).get("parentRefs", []) or []:
            if ref.get("kind", "Gateway") == "Gateway" and (ref.get("namespace", ns), ref.get("name")) not in api_gateways:
                add("IST0101", route, f"Referenced parent Gateway not found: {ref.get('name')!r}")
        for i, rule in enumerate(route.get("spec", {}).get("rules", []) or []):
            refs = rule.get("backendRefs", []) or []
            for ref in refs:
                if ref.get("kind", "Service") != "Service":
                    continue
                svc = svcs.get((ref.get("namespace", ns), ref.get("name")))
                if svc is None:
                    add("IST0101", route, f"rules[{i}]: Referenced backend Service not found: {ref.get('name')!r}")
                elif ref.get("port") not in service_port_numbers(svc):
                    add("IST0101", route, f"rules[{i}]: backend {ref.get('name')}:{ref.get('port')} is not a Service port")
            weights = [r.get("weight", 1) for r in refs]
            if len(refs) > 1 and sum(weights) != 100:
                add("KYC0001", route, f"rules[{i}]: backend weights {weights} sum to {sum(weights)}, not 100")

    return findings


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("directory", type=Path, help="networking/ (top-level files, as kubectl apply -f DIR)")
    parser.add_argument("--scenario", type=Path, action="append", default=[], help="a file applied on top")
    args = parser.parse_args(argv)
    objs = load_dir(args.directory)
    for scenario in args.scenario:
        objs = overlay(objs, load_file(scenario))
    findings = analyze(objs)
    for f in findings:
        print(f)
    if findings:
        print(f"{len(findings)} problem(s) found", file=sys.stderr)
        return 1
    print(f"no problems found in {len(objs)} objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
