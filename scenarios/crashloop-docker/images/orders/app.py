"""Orders API: GET /healthz, GET /orders, GET /orders/<id>."""
import json
import os
import re
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORDERS = [
    {"id": 1001, "customer": "c-17", "total": 42.50, "status": "paid"},
    {"id": 1002, "customer": "c-04", "total": 13.99, "status": "shipped"},
    {"id": 1003, "customer": "c-17", "total": 7.25, "status": "pending"},
]

NONCE = re.compile(r"[0-9a-f]{32}")


class Handler(BaseHTTPRequestHandler):
    server_version = "orders/1.4"

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
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
        path = self.path.split("?")[0].rstrip("/") or "/"
        if path == "/healthz":
            return self._send(200, {"status": "ok"})
        if path == "/orders":
            return self._send(200, {"orders": ORDERS})
        if path.startswith("/orders/"):
            key = path.rsplit("/", 1)[1]
            for order in ORDERS:
                if str(order["id"]) == key:
                    return self._send(200, order)
            return self._send(404, {"error": f"no order {key}"})
        return self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    port = int(os.environ.get("ORDERS_PORT", "8000"))
    print(f"orders API listening on :{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
