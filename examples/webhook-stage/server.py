#!/usr/bin/env python3
"""A webhook stage (DESIGN.md §8, `kind = "webhook"`): an audit sink beside the transport manager.

    python3 server.py PORT [AUDIT_FILE]

Sluice POSTs every change envelope (DESIGN.md §2) to it, with the headers `Sluice-Stage`,
`Sluice-Attempt` and `Sluice-Op`. It records each one (in memory, and as a JSON line in AUDIT_FILE
when given) and answers 204: a 2xx with an empty body forwards the message unchanged to the stage's
`next` (none here: the audit trail is the end of that branch). `GET /records` returns what it
recorded, as a JSON array of {stage, attempt, op, envelope}.

A webhook answering 408, 429 or 5xx is retried (honouring `Retry-After`); another 4xx
dead-letters the message. A 2xx with a JSON body is a reply: {"action": ..., "message": ...}.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

records = []
lock = threading.Lock()
audit_file = None


class AuditHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Sluice reuses one connection per stage instance

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            envelope = json.loads(body)
        except ValueError:
            # Not JSON: a 400 tells Sluice to dead-letter it, with this text in the reason.
            return self.answer(400, b"audit: the body is not JSON")
        record = {
            "stage": self.headers.get("Sluice-Stage"),
            "attempt": int(self.headers.get("Sluice-Attempt", "0")),
            "op": self.headers.get("Sluice-Op"),
            "envelope": envelope,
        }
        with lock:
            records.append(record)
            if audit_file:
                with open(audit_file, "a") as f:
                    f.write(json.dumps(record) + "\n")
        self.answer(204)  # recorded: forward unchanged

    def do_GET(self):
        if self.path != "/records":
            return self.answer(404, b"not found")
        with lock:
            self.answer(200, json.dumps(records).encode(), "application/json")

    def answer(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", content_type)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet: one line per request would drown the audit trail
        pass


def main():
    global audit_file
    port = int(sys.argv[1])
    audit_file = sys.argv[2] if len(sys.argv) > 2 else None
    server = ThreadingHTTPServer(("127.0.0.1", port), AuditHandler)
    print(f"audit webhook listening on http://127.0.0.1:{port}/audit", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
