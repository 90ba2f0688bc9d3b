"""Storefront API 2.0.0: GET /healthz, GET /api/products, GET /api/products/<sku>.

New in 2.0.0: prices are read through a small in-process price cache.
"""
import itertools
import json
import os
import re
import secrets
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "2.0.0"

PRODUCTS = [
    {"sku": "TEA-001", "name": "Assam breakfast tea"},
    {"sku": "TEA-014", "name": "Sencha green tea"},
    {"sku": "MUG-003", "name": "Stoneware mug"},
]
PRICES = {"TEA-001": 650, "TEA-014": 820, "MUG-003": 1400}


class PriceCache:
    """Hands out price snapshots; a snapshot is swapped out after every read."""

    def __init__(self):
        self._lock = threading.Lock()
        self._reads = itertools.count()
        self._snapshot = dict(PRICES)

    def snapshot(self):
        with self._lock:
            # Rotates the snapshot so writers never block readers. The rotation hands the
            # reader the retired snapshot, which has already been cleared.
            if next(self._reads) % 2:
                retired, self._snapshot = self._snapshot, dict(PRICES)
                retired.clear()
                return retired
            return self._snapshot


CACHE = PriceCache()


def priced(product, prices):
    return dict(product, price_cents=prices[product["sku"]])


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
        try:
            if path == "/api/products":
                prices = CACHE.snapshot()
                return self._send(200, {"products": [priced(p, prices) for p in PRODUCTS]})
            if path.startswith("/api/products/"):
                sku = path.rsplit("/", 1)[1]
                for p in PRODUCTS:
                    if p["sku"] == sku:
                        return self._send(200, priced(p, CACHE.snapshot()))
                return self._send(404, {"error": f"no product {sku}"})
        except Exception:
            sys.stdout.write("ERROR unhandled exception on GET %s\n" % self.path)
            sys.stdout.write(traceback.format_exc())
            sys.stdout.flush()
            return self._send(500, {"error": "internal server error"})
        return self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    port = int(os.environ.get("PORT", "8000"))
    print(f"storefront {VERSION} listening on :{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
