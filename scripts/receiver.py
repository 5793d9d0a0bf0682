#!/usr/bin/env python3
"""An HTTP receiver for lifeboat-notify's webhook and Slack tests (standard library only).

Every request is recorded (path, headers, body, the status answered) and can be read back with
GET /received[?prefix=/webhook/abc] (a JSON list, oldest first). What it answers depends on the
path, so parallel tests never disturb each other (each uses its own path):

  POST /webhook/...   checks X-Lifeboat-Signature: sha256=<hex HMAC-SHA256(secret, T "." body)>
                      where T is the X-Lifeboat-Timestamp header (Unix seconds, within 300 s of
                      now): 401 on a missing, stale or wrong signature, else 204
  POST /slack/...     Slack's incoming-webhook contract: a JSON object with a string "text",
                      answered 200 "ok"; anything else 400 "invalid_payload"
  .../fail-N/...      any path with a segment fail-N answers 500 to the first N requests to that
                      exact path, then behaves as above (to exercise retries)
  .../hang/...        never answers (the connection is held for 120 s): a timeout test

The secret is read from --secret-file so it never appears in a process listing.
"""

import argparse
import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_SKEW_SECONDS = 300


class State:
    def __init__(self, secret):
        self.secret = secret
        self.lock = threading.Lock()
        self.records = []
        self.failures = {}  # path -> how many 500s it has answered


def signature_ok(secret, headers, body):
    ts = headers.get("X-Lifeboat-Timestamp", "")
    sig = headers.get("X-Lifeboat-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > MAX_SKEW_SECONDS or not sig.startswith("sha256="):
        return False
    want = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig[len("sha256="):])


def slack_ok(body):
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("text"), str)


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: tests read /received instead
            pass

        def answer(self, status, body=b"", ctype="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path != "/received":
                return self.answer(404, b"not found")
            prefix = parse_qs(url.query).get("prefix", [""])[0]
            with state.lock:
                got = [r for r in state.records if r["path"].startswith(prefix)]
            self.answer(200, json.dumps(got).encode(), "application/json")

        def do_POST(self):
            path = urlsplit(self.path).path
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            status, reply = self.decide(path, body)
            if status is None:
                time.sleep(120)
                return
            with state.lock:
                state.records.append({
                    "path": path,
                    "headers": {k: v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", errors="replace"),
                    "status": status,
                    "at": time.time(),
                })
            self.answer(status, reply)

        def decide(self, path, body):
            segments = path.split("/")
            if "hang" in segments:
                return None, b""
            fail = next((int(m.group(1)) for s in segments if (m := re.fullmatch(r"fail-(\d+)", s))), 0)
            with state.lock:
                done = state.failures.get(path, 0)
                if done < fail:
                    state.failures[path] = done + 1
                    return 500, b"failing on purpose"
            if path.startswith("/webhook/"):
                return (204, b"") if signature_ok(state.secret, self.headers, body) else (401, b"bad signature")
            if path.startswith("/slack/"):
                return (200, b"ok") if slack_ok(body) else (400, b"invalid_payload")
            return 404, b"not found"

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret-file", required=True)
    args = p.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().strip()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(State(secret)))
    server.daemon_threads = True
    print(f"receiver: listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
