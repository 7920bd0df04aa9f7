"""A stand-in gateway for the fuzz run: /credit-check/basic -> basic, /credit-check/advanced ->
advanced, /credit-check/report -> the two in turn. Usage: gateway.py PORT BASIC_PORT ADVANCED_PORT"""
import itertools
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, BASIC, ADVANCED = (int(a) for a in sys.argv[1:4])
TURN = itertools.cycle([BASIC, ADVANCED])
ROUTES = {"/credit-check/basic": lambda: BASIC, "/credit-check/advanced": lambda: ADVANCED,
          "/credit-check/report": lambda: next(TURN)}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        path = self.path.split("?", 1)[0]
        route = ROUTES.get(path)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if route is None:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        request = urllib.request.Request(f"http://127.0.0.1:{route()}{self.path}", data=body or None,
                                         method=self.command,
                                         headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, headers, payload = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        self.send_response(status)
        for name in ("content-type", "x-kyc-served-by"):
            if headers.get(name):
                self.send_header(name, headers[name])
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = forward

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
