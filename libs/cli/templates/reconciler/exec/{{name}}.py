#!/usr/bin/env python3
"""Reconciler {{name}} (kind = "exec"), written by `sluice new reconciler {{name}}`.

`python3 {{name}}.py check` is the check and `python3 {{name}}.py fix` the fix (sluice.toml beside
this file wires both). Every interval Sluice checks the documents whose last sync is older than
the interval, writing one request per line and reading one reply per line with the same id:

    check: {"id": "7", "reconciler": "{{name}}", "check": "1", "document": {...}}
           -> {"id": "7", "ok": true} or {"id": "7", "ok": false, "error": "why"}
    fix:   {"id": "8", "reconciler": "{{name}}", "document": {...}, "errors": [{"check", "error"}]}
           -> {"id": "8", "ok": true, "patch": [...RFC 6902...]} or {"id": "8", "ok": false, "error": "why"}

A fix's patch is applied through the normal write path (devices see it). Each document's result
(ok | fixed | failed) is shown by GET /v1/apps/{app}/reconcilers/{{name}}. What this program
prints on stderr goes to Sluice's log.
"""
import json
import sys


def check(document):
    """(ok, error) for one document. This one fails documents marked `broken`."""
    if document.get("broken"):
        return False, "the document is marked broken"
    return True, None


def fix(document, errors):
    """(ok, patch) for a document a check failed. This one removes the mark."""
    return True, [{"op": "remove", "path": "/broken"}]


def main():
    role = sys.argv[1]
    for line in sys.stdin:
        request = json.loads(line)
        if role == "check":
            ok, error = check(request["document"])
            reply = {"ok": ok} if ok else {"ok": False, "error": error}
        else:
            ok, patch = fix(request["document"], request["errors"])
            reply = {"ok": ok, "patch": patch} if ok else {"ok": False, "error": "cannot fix"}
        reply["id"] = request["id"]
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
