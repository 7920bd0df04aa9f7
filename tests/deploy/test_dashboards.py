"""scripts/dashboards.sh against a stand-in kubectl (the stubs of test_scripts.py) and a real HTTP
server on 127.0.0.1 standing in for the Grafana addon."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from test_scripts import run, stubs, utilities  # noqa: F401  (pytest fixtures)

# ---- dashboards.sh -------------------------------------------------------------------------


class _Grafana(BaseHTTPRequestHandler):
    posted: list[bytes] = []

    def do_GET(self):
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).posted.append(body)
        self.send_response(200 if self.path == "/api/dashboards/db" else 404)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "success"}')

    def log_message(self, *args):
        pass


def test_dashboards_posts_the_dashboard_to_grafana_through_a_port_forward(run):
    _Grafana.posted = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Grafana)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = str(server.server_address[1])
    try:
        proc = run("dashboards.sh", "--port", port)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ["kubectl", "-n", "istio-system", "port-forward", "svc/grafana", f"{port}:3000"] in run.calls()
    assert len(_Grafana.posted) == 1
    sent = json.loads(_Grafana.posted[0])
    assert sent["overwrite"] is True
    assert sent["dashboard"]["uid"] == "kyc-canary"


def test_dashboards_help_and_bad_arguments(run):
    assert run("dashboards.sh", "--help").stdout.startswith("Usage: scripts/dashboards.sh")
    proc = run("dashboards.sh", "--bogus")
    assert proc.returncode != 0 and "unknown argument: --bogus" in proc.stderr
    assert run.calls() == []
