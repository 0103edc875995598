#!/usr/bin/env python3
"""Listener {{name}} (kind = "webhook"), written by `sluice new listener {{name}} --kind webhook`.

Run it (`python3 {{name}}.py --port 9000`): the writer sends it every change its sluice.toml
selects, on a durable queue of its own (events wait while it is down), and Sluice POSTs each
change envelope {op, event, app, model, id, owner, actor, ts, version, before, after, patch?} to
it. Answer 2xx once handled; a 5xx, 408 or 429 has the event retried with backoff, and after
max_attempts it is dead-lettered (`sluice dlq list --stage {{name}}`) while the others flow.
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handle(envelope):
    """Does the work for one change; raise to have it retried."""
    print(f"{{name}}: {envelope['event']} {envelope['app']}/{envelope['model']}/{envelope['id']}", file=sys.stderr, flush=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Sluice keeps the connection alive

    def do_POST(self):
        envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            handle(envelope)
            status, body = 200, b'{"action": "done"}'
        except Exception as e:
            status, body = 500, json.dumps({"error": f"{type(e).__name__}: {e}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description="listener {{name}} as a webhook")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"{{name}} listening on http://127.0.0.1:{server.server_port}/{{name}}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
