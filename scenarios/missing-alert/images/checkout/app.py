"""checkout: a small HTTP service with Prometheus metrics and its own simulated traffic.

A background thread plays the part of customers, so the counters always move. Each simulated
request fails with probability `error_ratio`; the admin endpoint changes it, which is how an
outage (a degraded payment provider) is simulated and how it recovers.

  GET  /metrics            Prometheus text format
  GET  /healthz            200 while the process runs
  GET  /admin/error-ratio  the current ratio, as plain text (what a POST takes back)
  POST /admin/error-ratio  body: a number between 0 and 1
"""

import json
import os
import re
import secrets
import random
import threading
import time
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("CHECKOUT_PORT", "8080"))
RPS = float(os.environ.get("SIMULATED_RPS", "20"))
ROUTES = ["/api/cart", "/api/checkout"]
BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0]

lock = threading.Lock()
state = {"error_ratio": float(os.environ.get("ERROR_RATIO", "0"))}
requests = {}  # (route, code) -> count
durations = {}  # route -> [bucket counts..., sum, count]


def observe(route, code, seconds):
    with lock:
        requests[(route, code)] = requests.get((route, code), 0) + 1
        d = durations.setdefault(route, [0] * len(BUCKETS) + [0.0, 0])
        for i, b in enumerate(BUCKETS):
            if seconds <= b:
                d[i] += 1
        d[-2] += seconds
        d[-1] += 1


def traffic():
    while True:
        with lock:
            ratio = state["error_ratio"]
        route = random.choice(ROUTES)
        if random.random() < ratio:
            code, seconds = random.choice(["500", "502", "503"]), random.uniform(0.2, 0.9)
        else:
            code, seconds = "200", random.uniform(0.01, 0.08)
        observe(route, code, seconds)
        time.sleep(1.0 / RPS)


def metrics():
    out = [
        "# HELP http_requests_total Requests handled, by route and HTTP status code.",
        "# TYPE http_requests_total counter",
    ]
    with lock:
        # Every series exists from the start, so rate() sees errors rise from zero.
        for route in ROUTES:
            for code in ["200", "500", "502", "503"]:
                n = requests.get((route, code), 0)
                out.append(
                    f'http_requests_total{{service="checkout",route="{route}",code="{code}"}} {n}'
                )
        out.append("# HELP http_request_duration_seconds Request latency.")
        out.append("# TYPE http_request_duration_seconds histogram")
        for route, d in sorted(durations.items()):
            lbl = f'service="checkout",route="{route}"'
            for i, b in enumerate(BUCKETS):
                out.append(f'http_request_duration_seconds_bucket{{{lbl},le="{b}"}} {d[i]}')
            out.append(f'http_request_duration_seconds_bucket{{{lbl},le="+Inf"}} {d[-1]}')
            out.append(f"http_request_duration_seconds_sum{{{lbl}}} {d[-2]:.3f}")
            out.append(f"http_request_duration_seconds_count{{{lbl}}} {d[-1]}")
    return "\n".join(out) + "\n"


NONCE = re.compile(r"[0-9a-f]{32}")


class Handler(BaseHTTPRequestHandler):
    def send(self, status, body, ctype="application/json"):
        data = body.encode()
        self.send_response(status)
        self._prove()
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _prove(self):
        """Proof of who answered, for breakfix's `served-by` checks: a request carrying a nonce
        gets a fresh token in its answer, and the two are logged together on a line of their own."""
        nonce = self.headers.get("X-Breakfix-Nonce", "")
        if NONCE.fullmatch(nonce):
            token = secrets.token_hex(16)
            # One write, line end included: a threaded server's other lines cannot come
            # between the text and its line end, as they can between print()'s two writes.
            sys.stdout.write(f"breakfix-proof nonce={nonce} token={token}\n")
            sys.stdout.flush()
            self.send_header("X-Breakfix-Proof", token)

    def do_GET(self):
        if self.path == "/metrics":
            self.send(200, metrics(), "text/plain; version=0.0.4")
        elif self.path == "/healthz":
            self.send(200, '{"status":"ok"}')
        elif self.path == "/admin/error-ratio":
            with lock:
                self.send(200, f"{state['error_ratio']}\n", "text/plain")
        else:
            self.send(404, '{"error":"not found"}')

    def do_POST(self):
        if self.path != "/admin/error-ratio":
            self.send(404, '{"error":"not found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, 64)).decode(errors="replace").strip()
        try:
            ratio = float(raw)
            if not 0 <= ratio <= 1:
                raise ValueError
        except ValueError:
            self.send(400, json.dumps({"error": "body must be a number between 0 and 1"}))
            return
        with lock:
            state["error_ratio"] = ratio
        print(f"admin: error ratio set to {ratio}", flush=True)
        self.send(200, json.dumps({"error-ratio": ratio}))

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    threading.Thread(target=traffic, daemon=True).start()
    print(f"checkout listening on :{PORT}, simulating {RPS} requests/s", flush=True)
    ThreadingHTTPServer(("", PORT), Handler).serve_forever()
