"""inventory-api: stock levels for the shop.

GET /items      the stock list; every answer is recorded in the audit log first, and the
                API refuses to answer (503) when the log volume is full or the record
                cannot be written
GET /healthz    200 while the log volume is writable, 503 otherwise
GET /status     the service's view of itself: log settings and the log volume's usage

A background worker syncs stock from the warehouse feed several times a second.
"""
import argparse
import configparser
import json
import logging
import logging.handlers
import os
import random
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
          "WARN": logging.WARNING, "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}

LOG_DIR = "/var/log/inventory"

log = logging.getLogger("inventory")
state = {"last_write_error": None, "last_write_error_at": 0.0, "write_errors": 0}
state_lock = threading.Lock()


def note_write_error(err):
    with state_lock:
        state["last_write_error"] = str(err)
        state["last_write_error_at"] = time.time()
        state["write_errors"] += 1


class FileHandler(logging.handlers.RotatingFileHandler):
    """Size-based rotation when max_bytes > 0, a plain growing file otherwise. A failed
    write is reported on stderr (as the logging module does) and remembered for /status."""

    def handleError(self, record):
        note_write_error(sys.exc_info()[1])
        super().handleError(record)


def parse_size(text):
    text = text.strip().lower().replace(" ", "")
    for suffix, factor in (("kib", 1024), ("mib", 1 << 20), ("kb", 1000), ("mb", 1000 ** 2),
                           ("k", 1024), ("m", 1 << 20), ("b", 1)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def load_config(path):
    cp = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    if not cp.read(path):
        sys.exit(f"inventory-api: cannot read configuration {path}")
    lg = cp["logging"] if cp.has_section("logging") else {}
    level = lg.get("level", "INFO").strip().upper()
    if level not in LEVELS:
        sys.exit(f"inventory-api: [logging] level {level!r} is not one of {', '.join(LEVELS)}")
    files = {"[logging] file": lg.get("file", f"{LOG_DIR}/inventory.log").strip(),
             "[audit] file": cp.get("audit", "file", fallback=f"{LOG_DIR}/audit.log").strip()}
    for key, value in files.items():
        # The node agent ships only what is in the log directory.
        if os.path.dirname(os.path.normpath(value)) != LOG_DIR:
            sys.exit(f"inventory-api: {key} {value!r} must be a file in {LOG_DIR}, "
                     "the directory the node agent ships")
    return {
        "port": cp.getint("server", "port", fallback=8080),
        "level": level,
        "file": files["[logging] file"],
        "max_bytes": parse_size(lg.get("max_bytes", "0")),
        "backup_count": int(lg.get("backup_count", "0")),
        "audit_file": files["[audit] file"],
    }


ITEMS = [{"sku": f"SKU-{n:05d}", "warehouse": "ams-1", "on_hand": (n * 37) % 500,
          "reserved": (n * 11) % 40} for n in range(1, 2401)]


SYNC_INTERVAL = 0.2


def sync_worker(interval):
    """Pulls the warehouse feed. At DEBUG it dumps each raw batch, which is the verbose part."""
    batch = 0
    while True:
        batch += 1
        changed = random.sample(range(len(ITEMS)), 3)
        for i in changed:
            ITEMS[i]["on_hand"] = max(0, ITEMS[i]["on_hand"] + random.randint(-5, 5))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("sync batch=%d raw feed payload: %s", batch, json.dumps(ITEMS))
        if batch % 240 == 0:
            log.info("sync: %d batches applied, %d items tracked", batch, len(ITEMS))
        time.sleep(interval)


def volume_usage(path):
    st = os.statvfs(path)
    size = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    used = size - free
    return size, used


NONCE = re.compile(r"[0-9a-f]{32}")


class Handler(BaseHTTPRequestHandler):
    server_version = "inventory-api/2.3"
    cfg = {}

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
        gets a fresh token in its answer, and the two are written together, on a line of their
        own, to stdout (the container's log; the service's own log is a file)."""
        nonce = self.headers.get("X-Breakfix-Nonce", "")
        if NONCE.fullmatch(nonce):
            token = secrets.token_hex(16)
            # One write, line end included: a threaded server's other lines cannot come
            # between the text and its line end, as they can between print()'s two writes.
            sys.stdout.write(f"breakfix-proof nonce={nonce} token={token}\n")
            sys.stdout.flush()
            self.send_header("X-Breakfix-Proof", token)

    def _volume(self):
        directory = os.path.dirname(self.cfg["file"]) or "."
        size, used = volume_usage(directory)
        pct = round(100.0 * used / size, 1) if size else 0.0
        with state_lock:
            recent = time.time() - state["last_write_error_at"] < 10
            errors = state["write_errors"]
            last = state["last_write_error"]
        if pct >= 95 or recent:
            vstate = "full"
        elif pct >= 80:
            vstate = "high"
        else:
            vstate = "ok"
        return {"state": vstate, "used_percent": pct, "used_bytes": used, "size_bytes": size,
                "path": directory, "write_errors": errors, "last_write_error": last}

    def _audit(self, what):
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {self.client_address[0]} {what}\n"
        fd = os.open(self.cfg["audit_file"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/") or "/"
        if path == "/healthz":
            vol = self._volume()
            if vol["state"] == "full":
                return self._send(503, {"status": "unhealthy", "reason": "log volume full"})
            return self._send(200, {"status": "ok"})
        if path == "/status":
            return self._send(200, {
                "service": "inventory-api",
                "log_volume": self._volume(),
                "log": {"level": self.cfg["level"], "file": self.cfg["file"],
                        "max_bytes": self.cfg["max_bytes"],
                        "backup_count": self.cfg["backup_count"]},
            })
        if path == "/items":
            # Like a flood-stage watermark: with the volume (nearly) full, an audit record
            # may be lost half-written, so the API stops answering instead.
            vol = self._volume()
            if vol["state"] == "full":
                log.error("refusing GET /items: log volume %s is full (%s%% used)",
                          vol["path"], vol["used_percent"])
                return self._send(503, {"error": f"cannot write audit record: log volume "
                                                 f"{vol['path']} is full ({vol['used_percent']}% used)"})
            try:
                self._audit("GET /items")
            except OSError as e:
                note_write_error(e)
                log.error("refusing GET /items: cannot write audit record: %s", e)
                return self._send(503, {"error": f"cannot write audit record: {e}"})
            return self._send(200, {"items": ITEMS[:50], "total": len(ITEMS)})
        return self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        log.info("%s %s", self.address_string(), fmt % args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    cfg = load_config(ap.parse_args().config)
    Handler.cfg = cfg
    handler = FileHandler(cfg["file"], maxBytes=cfg["max_bytes"], backupCount=cfg["backup_count"])
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(LEVELS[cfg["level"]])
    print(f"inventory-api listening on :{cfg['port']}; logging at {cfg['level']} to {cfg['file']} "
          f"(max_bytes={cfg['max_bytes']}, backup_count={cfg['backup_count']})", flush=True)
    log.info("starting: level=%s max_bytes=%d backup_count=%d",
             cfg["level"], cfg["max_bytes"], cfg["backup_count"])
    threading.Thread(target=sync_worker, args=(SYNC_INTERVAL,), daemon=True).start()
    ThreadingHTTPServer(("0.0.0.0", cfg["port"]), Handler).serve_forever()


if __name__ == "__main__":
    main()
