#!/usr/bin/env python3
"""Stage {{name}} (kind = "webhook"), written by `sluice new stage {{name}} --kind webhook`.

Run it (`python3 {{name}}.py --port 9000`) and Sluice POSTs each message to it as the JSON body,
with the headers Sluice-Stage, Sluice-Attempt and Sluice-Op. Answer 200 with a reply
{"action": "next" | "done" | "retry" | "dead_letter", "message"?, "next"?, "reason"?}, or 204 to
send the message on unchanged; a 4xx dead-letters it, a 5xx, 408 or 429 has it retried with
backoff (docs/stages.md). Placed before the writer, as sluice.toml beside this file places it, a
message is a write request: {op, event, app, model, id, owner, actor, ts} plus `data` or `patch`.
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handle(message):
    """The reply to one message. This one marks created documents and lets everything through."""
    if message.get("event") == "model_created" and isinstance(message.get("data"), dict):
        message["data"]["checked_by"] = "{{name}}"
        return {"action": "next", "message": message}
    return {"action": "next"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Sluice keeps the connection alive

    def do_POST(self):
        message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            status, reply = 200, handle(message)
        except Exception as e:  # a bug: retried with backoff, then dead-lettered
            status, reply = 500, {"error": f"{type(e).__name__}: {e}"}
        body = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description="stage {{name}} as a webhook")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"{{name}} listening on http://127.0.0.1:{server.server_port}/{{name}}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
