#!/usr/bin/env python3
"""A reconciler check or fix for the functional tests (DESIGN.md §9: one request per line with an
`id`, one reply per line with the same `id`), one role per argv[1]; every request is appended to
the file argv[2] as {role, pid (of Sluice), start, end, request}:

  amount     check: ok when document.amount >= 0, else error "negative amount"
  slow S     check: sleeps S seconds, then ok
  hang       check: never answers
  zero       fix: answers {ok: true, patch: [replace /amount with 0]}
  refuse     fix: answers {ok: false, error: "cannot fix"}
"""
import json
import os
import sys
import time

role, log = sys.argv[1], sys.argv[2]
args = sys.argv[3:]

for line in sys.stdin:
    request = json.loads(line)
    start = time.time()
    if role == "amount":
        amount = request["document"].get("amount", 0)
        reply = {"ok": True} if amount >= 0 else {"ok": False, "error": "negative amount"}
    elif role == "slow":
        time.sleep(float(args[0]))
        reply = {"ok": True}
    elif role == "hang":
        time.sleep(3600)
    elif role == "zero":
        reply = {"ok": True, "patch": [{"op": "replace", "path": "/amount", "value": 0}]}
    elif role == "refuse":
        reply = {"ok": False, "error": "cannot fix"}
    with open(log, "a") as f:
        f.write(json.dumps({"role": role, "pid": os.getppid(), "start": start, "end": time.time(), "request": request}) + "\n")
    reply["id"] = request["id"]
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
