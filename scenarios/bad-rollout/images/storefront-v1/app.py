"""Storefront API 1.8.3: GET /healthz, GET /api/products, GET /api/products/<sku>."""
import json
import os
import re
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "1.8.3"

PRODUCTS = [
    {"sku": "TEA-001", "name": "Assam breakfast tea", "price_cents": 650},
    {"sku": "TEA-014", "name": "Sencha green tea", "price_cents": 820},
    {"sku": "MUG-003", "name": "Stoneware mug", "price_cents": 1400},
]


NONCE = re.compile(r"[0-9a-f]{32}")


class Handler(BaseHTTPRequestHandler):
    server_version = "storefront/" + VERSION

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self._prove()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-App-Version", VERSION)
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
            return self._send(200, {"status": "ok", "version": VERSION})
        if path == "/api/products":
            return self._send(200, {"products": PRODUCTS})
        if path.startswith("/api/products/"):
            sku = path.rsplit("/", 1)[1]
            for p in PRODUCTS:
                if p["sku"] == sku:
                    return self._send(200, p)
            return self._send(404, {"error": f"no product {sku}"})
        return self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    port = int(os.environ.get("PORT", "8000"))
    print(f"storefront {VERSION} listening on :{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
