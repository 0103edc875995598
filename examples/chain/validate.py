#!/usr/bin/env python3
"""The first link of the chain (DESIGN.md §8, `kind = "exec"`, before the writer): refuses orders
that cannot be right, so they are never stored, and tells the client why.

A created order needs `customer` (a non-empty string) and `items`, a non-empty list of
{sku, quantity > 0, price >= 0}; the stage stamps `total`. A refused order is dead-lettered with
the reason, which a `?wait=1` client gets as 422 `rejected`. Patches go on unchanged: the writer
and the reconciler (examples/reconciler) keep those honest.
"""
import json
import sys


def problem(order):
    if not isinstance(order.get("customer"), str) or not order["customer"]:
        return "an order needs a customer"
    items = order.get("items")
    if not isinstance(items, list) or not items:
        return "an order needs at least one item"
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
            return f"item {i} needs a sku"
        if not isinstance(item.get("quantity"), int) or item["quantity"] <= 0:
            return f"item {i} needs a positive integer quantity"
        if not isinstance(item.get("price"), (int, float)) or item["price"] < 0:
            return f"item {i} needs a price of at least 0"
    return None


def handle(message):
    if message.get("event") != "model_created" or message.get("model") != "order":
        return {"action": "next"}
    order = message["data"]
    why = problem(order)
    if why:
        return {"action": "dead_letter", "reason": why}
    order["total"] = round(sum(i["quantity"] * i["price"] for i in order["items"]), 2)
    return {"action": "next", "message": message}


for line in sys.stdin:
    request = json.loads(line)
    reply = handle(request["message"])
    reply["id"] = request["id"]
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
