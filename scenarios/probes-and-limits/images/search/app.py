"""search-api: catalogue search for the help centre and the storefront.

Endpoints (port SEARCH_PORT, default 8080):
  GET /search?q=<terms>  the matching documents, as JSON
  GET /healthz           200 as soon as the process serves HTTP (is the process alive?)
  GET /ready             503 while the index warms, 200 once it is in memory (can it serve?)
  GET /                  this list

On start the process listens at once, then loads the catalogue index into memory, shard by
shard (about 150 MiB once warm, plus the interpreter). Search answers 503 until the index is
warm: a cold replica would have to read every shard from disk for every query.
"""
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERSION = "2.4.0"
SHARDS = 15
SHARD_MIB = 10
SHARD_LOAD_SECONDS = 0.45

DOCUMENTS = [
    {"id": "kb-101", "title": "Disk full on the order database: runbook", "tags": ["disk", "postgres", "runbook"]},
    {"id": "kb-102", "title": "Resizing a persistent volume without downtime", "tags": ["disk", "storage", "kubernetes"]},
    {"id": "kb-117", "title": "Clearing the image cache on build agents", "tags": ["disk", "ci", "docker"]},
    {"id": "kb-203", "title": "Checkout latency: where to look first", "tags": ["latency", "checkout"]},
    {"id": "kb-208", "title": "Certificate renewal for the storefront", "tags": ["tls", "certificates"]},
    {"id": "kb-311", "title": "Rotating the payment provider's API keys", "tags": ["secrets", "payments"]},
    {"id": "kb-402", "title": "Memory pressure on worker nodes", "tags": ["memory", "kubernetes", "nodes"]},
    {"id": "kb-415", "title": "Reading OOMKilled in pod status", "tags": ["memory", "kubernetes", "oom"]},
]


class Index:
    """The in-memory catalogue index. Shards stay resident: they are the point of warming."""

    def __init__(self):
        self.shards = []
        self.warm = False
        self.started = time.monotonic()

    def progress(self):
        return f"{len(self.shards)}/{SHARDS}"

    def load(self):
        print(f"warming catalogue index: {SHARDS} shards of {SHARD_MIB} MiB", flush=True)
        for i in range(SHARDS):
            time.sleep(SHARD_LOAD_SECONDS)
            # A shard's postings, materialised: every page is written, so it is resident.
            self.shards.append(bytes([65 + i % 26]) * (SHARD_MIB * 1024 * 1024))
            print(
                f"index shard {i + 1}/{SHARDS} loaded (rss {rss_mib()} MiB)",
                flush=True,
            )
        self.warm = True
        took = time.monotonic() - self.started
        print(
            f"index warm: {SHARDS * SHARD_MIB} MiB in {took:.1f}s (rss {rss_mib()} MiB); ready for traffic",
            flush=True,
        )

    def search(self, query):
        terms = [t for t in query.lower().split() if t]
        hits = []
        for doc in DOCUMENTS:
            words = set(doc["title"].lower().replace(":", " ").split()) | set(doc["tags"])
            if terms and all(any(w.startswith(t) for w in words) for t in terms):
                hits.append(doc)
        return hits


def rss_mib():
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return -1


INDEX = Index()


class Handler(BaseHTTPRequestHandler):
    server_version = f"search-api/{VERSION}"
    protocol_version = "HTTP/1.1"

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code == 503:
            self.send_header("Retry-After", "5")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        if path == "/healthz":
            return self._send(200, {"status": "ok", "version": VERSION})
        if path == "/ready":
            if INDEX.warm:
                return self._send(200, {"status": "ready", "shards": INDEX.progress()})
            return self._send(503, {"status": "warming", "shards": INDEX.progress()})
        if path == "/search":
            if not INDEX.warm:
                return self._send(503, {"error": "warming up", "shards": INDEX.progress()})
            query = parse_qs(url.query).get("q", [""])[0]
            if not query.strip():
                return self._send(400, {"error": "missing query: /search?q=<terms>"})
            hits = INDEX.search(query)
            return self._send(200, {"query": query, "count": len(hits), "results": hits})
        if path == "/":
            return self._send(200, {
                "service": "search-api",
                "version": VERSION,
                "endpoints": ["/search?q=<terms>", "/healthz", "/ready"],
            })
        return self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        # Probe requests would drown the access log.
        if self.path.startswith(("/healthz", "/ready")):
            return
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stdout.flush()


def stop(signum, _frame):
    print(f"signal {signum}: shutting down", flush=True)
    sys.exit(0)


def main():
    signal.signal(signal.SIGTERM, stop)
    port = int(os.environ.get("SEARCH_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    print(f"search-api {VERSION} listening on :{port} (pid {os.getpid()})", flush=True)
    INDEX.load()
    threading.Event().wait()


if __name__ == "__main__":
    main()
