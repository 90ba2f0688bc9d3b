"""HTTP API: GET /healthz, GET /invoices, GET /invoices/<id>/total."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from invoices.totals import invoice_total

INVOICES = {
    "INV-1001": {
        "customer": "c-17",
        "vat_rate": "0.20",
        "lines": [
            {"sku": "desk-lamp", "quantity": 2, "unit_price": "49.90", "discount_pct": 10},
            {"sku": "bulb-e27", "quantity": 4, "unit_price": "3.25"},
        ],
    },
    "INV-1002": {
        "customer": "c-04",
        "vat_rate": "0.20",
        "lines": [{"sku": "office-chair", "quantity": 1, "unit_price": "219.00"}],
    },
}


class Handler(BaseHTTPRequestHandler):
    server_version = "invoices/2.3"

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if parts == ["healthz"]:
            return self._send(200, {"status": "ok"})
        if parts == ["invoices"]:
            return self._send(200, {"invoices": sorted(INVOICES)})
        if len(parts) == 3 and parts[0] == "invoices" and parts[2] == "total":
            invoice = INVOICES.get(parts[1])
            if invoice is None:
                return self._send(404, {"error": f"no invoice {parts[1]}"})
            total = invoice_total(invoice)
            return self._send(200, {"invoice": parts[1], **total})
        return self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    port = int(os.environ.get("PORT", "8080"))
    print(f"invoice service listening on :{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
