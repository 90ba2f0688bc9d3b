"""oncall-webhook: stands in for the paging service. Records every notification Alertmanager
sends (webhook format, version 4) and serves them back as JSON.

  POST /alerts         Alertmanager's webhook_configs target
  GET  /notifications  {"count": N, "notifications": [{"seq", "received-at", "payload"}]}
  GET  /healthz
"""

import json
import os
import re
import secrets
import threading
import time
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("RECEIVER_PORT", "9095"))
KEEP = 500
lock = threading.Lock()
received = []
seq = 0


NONCE = re.compile(r"[0-9a-f]{32}")


class Handler(BaseHTTPRequestHandler):
    def send(self, status, body):
        data = body.encode()
        self.send_response(status)
        self._prove()
        self.send_header("Content-Type", "application/json")
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
        if self.path == "/notifications":
            with lock:
                self.send(200, json.dumps({"count": seq, "notifications": received}))
        elif self.path == "/healthz":
            self.send(200, '{"status":"ok"}')
        else:
            self.send(404, '{"error":"not found"}')

    def do_POST(self):
        global seq
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, 1_000_000))
        try:
            payload = json.loads(raw)
        except ValueError:
            self.send(400, '{"error":"body is not JSON"}')
            return
        with lock:
            seq += 1
            received.append(
                {"seq": seq, "path": self.path, "received-at": time.time(), "payload": payload}
            )
            del received[:-KEEP]
        names = sorted({a.get("labels", {}).get("alertname", "?") for a in payload.get("alerts", [])})
        print(f"notification {seq}: {payload.get('status')} {', '.join(names)}", flush=True)
        self.send(200, '{"status":"recorded"}')

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    print(f"oncall-webhook listening on :{PORT}", flush=True)
    ThreadingHTTPServer(("", PORT), Handler).serve_forever()
