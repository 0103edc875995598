#!/usr/bin/env python3
"""The last link of the chain (DESIGN.md §8, `kind = "webhook"`, after the writer): an HTTP
server that "notifies the warehouse" of every stored order, i.e. appends one line per change to
an outbox file and answers 204. Sluice POSTs it the change envelope once the writer stored the
change; a failure (5xx) is retried with backoff, so a notification is never lost.

    python3 examples/chain/notify.py --port 9100 --outbox outbox.jsonl
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser(description="the chain's notify webhook")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--outbox", default="outbox.jsonl")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            after = envelope.get("after") or {}
            with open(args.outbox, "a") as f:
                f.write(json.dumps({"op": self.headers.get("Sluice-Op"), "event": envelope["event"], "order": envelope["id"],
                                    "customer": after.get("customer"), "total": after.get("total")}) + "\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"notify listening on http://127.0.0.1:{server.server_port}/notify", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
