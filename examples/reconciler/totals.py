#!/usr/bin/env python3
"""A reconciler's check and fix (DESIGN.md §9, `kind = "exec"`): an order's `total` must be what
its items add up to. A PATCH to an item's quantity or price (which the chain's validate stage lets
through) leaves the total stale; the check finds it, the fix answers the patch that corrects it,
and Sluice applies that patch through the normal write path, so devices see the new total.

    python3 totals.py check    # {id, reconciler, check, document} -> {id, ok, error?}
    python3 totals.py fix      # {id, reconciler, document, errors} -> {id, ok, patch?}
"""
import json
import sys


def items_total(order):
    return round(sum(i.get("quantity", 0) * i.get("price", 0) for i in order.get("items", [])), 2)


def check(order):
    expected = items_total(order)
    if order.get("total") == expected:
        return {"ok": True}
    return {"ok": False, "error": f"total is {order.get('total')}, the items add up to {expected}"}


def fix(order):
    op = "replace" if "total" in order else "add"
    return {"ok": True, "patch": [{"op": op, "path": "/total", "value": items_total(order)}]}


role = sys.argv[1]
for line in sys.stdin:
    request = json.loads(line)
    reply = check(request["document"]) if role == "check" else fix(request["document"])
    reply["id"] = request["id"]
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
