#!/usr/bin/env python3
"""An exec stage (DESIGN.md §8, `kind = "exec"`) that enriches write requests before the writer.

Sluice starts this program once per instance and writes one request per line on its stdin:

    {"id": "7", "stage": "enrich", "attempt": 1, "message": {...a write request...}}

and reads one reply per line on its stdout:

    {"id": "7", "action": "next", "message": {...the edited write request...}}

Before the writer a message is a write request: {op, event, app, model, id, owner, actor, ts} plus
`data` (model_created) or `patch` (model_updated, RFC 6902 with "/json/pointer" paths). This stage
adds `slug` (made from `title`) to created documents, and a matching `replace /slug` operation to
patches that change the title. Everything else goes on unchanged.

Whatever it prints on stderr ends up in Sluice's log.
"""
import json
import re
import sys


def slugify(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def enrich(request):
    """The edited write request, or None to forward it unchanged."""
    if request.get("event") == "model_created":
        title = request.get("data", {}).get("title")
        if isinstance(title, str):
            request["data"]["slug"] = slugify(title)
            return request
    elif request.get("event") == "model_updated":
        patch = request.get("patch", [])
        for op in list(patch):
            if op.get("op") in ("add", "replace") and op.get("path") == "/title" and isinstance(op.get("value"), str):
                patch.append({"op": "add", "path": "/slug", "value": slugify(op["value"])})
                return request
    return None


def main():
    print("enrich.py: ready", file=sys.stderr, flush=True)
    for line in sys.stdin:  # one request per line; the loop ends when Sluice closes our stdin
        if not line.strip():
            continue
        request = json.loads(line)
        edited = enrich(request["message"])
        reply = {"id": request["id"], "action": "next"}
        if edited is not None:
            reply["message"] = edited  # without "message", Sluice forwards the input unchanged
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()  # one reply per request, at once: Sluice waits for it (timeout_ms)


if __name__ == "__main__":
    main()
