#!/usr/bin/env python3
"""Listener {{name}} (kind = "exec"), written by `sluice new listener {{name}}`: a starting point.

The writer sends the listener every change its sluice.toml selects (app, model, events, filter),
on a durable queue of its own: events wait while it is down. Sluice writes one request per line:

    {"id": "7", "stage": "{{name}}", "attempt": 1, "message": {...the change envelope...}}

The envelope is {op, event, app, model, id, owner, actor, ts, version, before, after, patch?}.
Reply {"id": "7", "action": "done"} once handled; "retry" (with `retry_after_ms`, `reason`) tries
again with backoff, and after max_attempts the event is dead-lettered (`sluice dlq list --stage
{{name}}`) while the others flow. What this program prints on stderr goes to Sluice's log.
"""
import json
import sys


def handle(envelope):
    """Does the work for one change; raise to have it retried."""
    print(f"{{name}}: {envelope['event']} {envelope['app']}/{envelope['model']}/{envelope['id']}", file=sys.stderr, flush=True)


def main():
    for line in sys.stdin:
        request = json.loads(line)
        try:
            handle(request["message"])
            reply = {"action": "done"}
        except Exception as e:
            reply = {"action": "retry", "reason": f"{type(e).__name__}: {e}"}
        reply["id"] = request["id"]
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
