#!/usr/bin/env python3
"""Stage {{name}} (kind = "exec"), written by `sluice new stage {{name}}`: a starting point.

Sluice starts this program once per instance and writes one request per line on its stdin:

    {"id": "7", "stage": "{{name}}", "attempt": 1, "message": {...}}

and reads one reply per line on its stdout, carrying the same id:

    {"id": "7", "action": "next", "message": {...}}

`action` is next (forward `message`, or the input when there is none), done (consume it), retry
(with `retry_after_ms`, `reason`) or dead_letter (with `reason`); `next` may name the stages to
send to instead of the configured ones (docs/stages.md). Placed before the writer, as
sluice.toml beside this file places it, a message is a write request: {op, event, app, model, id,
owner, actor, ts} plus `data` (model_created) or `patch` (model_updated). What this program prints
on stderr goes to Sluice's log.
"""
import json
import sys


def handle(message):
    """The reply to one message. This one marks created documents and lets everything through."""
    if message.get("event") == "model_created" and isinstance(message.get("data"), dict):
        message["data"]["checked_by"] = "{{name}}"
        return {"action": "next", "message": message}
    return {"action": "next"}


def main():
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = handle(request["message"])
        except Exception as e:  # a bug: the message is retried with backoff, then dead-lettered
            reply = {"action": "retry", "reason": f"{type(e).__name__}: {e}"}
        reply["id"] = request["id"]
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
