#!/usr/bin/env python3
"""A listener (DESIGN.md §9, `[listeners.NAME]`, `kind = "exec"`): welcomes each new pro user.

Sluice starts this program and writes one request per line on its stdin,
`{"id", "stage", "attempt", "message"}`, where `message` is the change envelope (DESIGN.md §2) of
a change the listener selected. It answers one reply per line with the same `id`: `next` or `done`
(the event is handled), `retry` (try again later, with backoff), or `dead_letter` with a reason.

    python3 welcome.py OUTBOX    # appends one "welcome" line per new user to the file OUTBOX

A user without an e-mail address cannot be welcomed: that event is retried, then dead-lettered
(`sluice dlq list --stage welcome`), and the other events keep flowing. Events written while
Sluice (or, in the distributed shape, `sluice stage welcome`) is down wait in the listener's queue.
"""
import json
import sys


def handle(envelope, outbox):
    user = envelope["after"]
    if not user.get("email"):
        return {"action": "retry", "reason": f"user {envelope['id']} has no e-mail address"}
    outbox.write(json.dumps({"to": user["email"], "subject": f"Welcome, {user.get('name', envelope['id'])}!",
                             "user": envelope["id"], "op": envelope["op"]}) + "\n")
    outbox.flush()
    return {"action": "done"}


def main():
    outbox = open(sys.argv[1], "a")
    print("welcome.py: ready", file=sys.stderr, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        reply = handle(request["message"], outbox)
        reply["id"] = request["id"]
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
