#!/usr/bin/env python3
"""Reconciler {{name}} (kind = "webhook"), written by `sluice new reconciler {{name}} --kind webhook`.

Run it (`python3 {{name}}.py --port 9000`). Every interval Sluice POSTs each due document to
/check and the failed ones to /fix (sluice.toml beside this file wires both), as JSON bodies,
and reads the 2xx JSON answer:

    /check: {"reconciler": "{{name}}", "check": "1", "document": {...}} -> {"ok": true} | {"ok": false, "error": "why"}
    /fix:   {"reconciler": "{{name}}", "document": {...}, "errors": [{"check", "error"}]}
            -> {"ok": true, "patch": [...RFC 6902...]} | {"ok": false, "error": "why"}

A fix's patch is applied through the normal write path (devices see it). Each document's result
is shown by GET /v1/apps/{app}/reconcilers/{{name}}.
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def check(document):
    """(ok, error) for one document. This one fails documents marked `broken`."""
    if document.get("broken"):
        return False, "the document is marked broken"
    return True, None


def fix(document, errors):
    """(ok, patch) for a document a check failed. This one removes the mark."""
    return True, [{"op": "remove", "path": "/broken"}]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Sluice keeps the connection alive

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/check"):
            ok, error = check(request["document"])
            reply = {"ok": ok} if ok else {"ok": False, "error": error}
        else:
            ok, patch = fix(request["document"], request["errors"])
            reply = {"ok": ok, "patch": patch} if ok else {"ok": False, "error": "cannot fix"}
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description="reconciler {{name}} as a webhook")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"{{name}} listening on http://127.0.0.1:{server.server_port}/{{name}}/check and /fix", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
