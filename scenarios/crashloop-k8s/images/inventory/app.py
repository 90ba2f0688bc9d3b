"""Inventory API: GET /healthz, GET /items. Reads its settings from a key=value file."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONFIG_FILE = os.environ.get("CONFIG_FILE", "/etc/inventory/{{ var.config-file }}")


def load_config(path):
    settings = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ValueError(f"{path}:{number}: expected key = value")
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    for required in ("listen_port", "warehouse"):
        if required not in settings:
            raise ValueError(f"{path}: missing required setting {required!r}")
    return settings


try:
    CONFIG = load_config(CONFIG_FILE)
except (OSError, ValueError) as e:
    print(f"inventory: fatal: cannot load configuration: {e}", file=sys.stderr, flush=True)
    sys.exit(1)

ITEMS = [
    {"sku": "DSK-2TB", "name": "2 TB disk", "on_hand": 41},
    {"sku": "PSU-750", "name": "750 W power supply", "on_hand": 12},
    {"sku": "NIC-25G", "name": "25G network card", "on_hand": 7},
]


class Handler(BaseHTTPRequestHandler):
    server_version = "inventory/2.3"

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/") or "/"
        if path == "/healthz":
            return self._send(200, {"status": "ok"})
        if path == "/items":
            return self._send(200, {"warehouse": CONFIG["warehouse"], "items": ITEMS})
        return self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))


port = int(CONFIG["listen_port"])
print(f"inventory: warehouse {CONFIG['warehouse']}, listening on :{port}", flush=True)
ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
