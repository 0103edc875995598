#!/usr/bin/env python3
"""An exec hook for the functional tests (DESIGN.md §9: one request object per line with an `id`,
the document's when there is one, and one reply per line with the same `id`), one role per argv[1]:

  stamp      before:create|update: data.stamped_by = "hook", data.stamped_for = the user
  guard      refuses a document whose title is "forbidden" (409 title_taken), else goes on
  restrict   before:find: the query's filter gets public = true
  redact     after:get|find: removes `secret` from the result (each item of a find)
  record F   appends the request to the file F as a JSON line, goes on
  slow S     sleeps S seconds, then goes on
  crash      exits 3 on every request
  garbage    answers a line that is not JSON
  order N    appends N to data.order (a list), to show hooks run in the configured order
"""
import json
import sys
import time

role = sys.argv[1]
args = sys.argv[2:]


def answer(request, **fields):
    sys.stdout.write(json.dumps(dict(fields, id=request["id"])) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    request = json.loads(line)
    if role == "stamp":
        data = request["data"]
        data["stamped_by"] = "hook"
        data["stamped_for"] = request["user"]
        answer(request, data=data)
    elif role == "guard":
        if request.get("data", {}).get("title") == "forbidden":
            answer(request, error={"status": 409, "code": "title_taken", "message": "that title is not allowed"})
        else:
            answer(request)
    elif role == "restrict":
        query = request["query"]
        query["filter"] = {"$and": [query.get("filter") or {}, {"public": True}]}
        answer(request, query=query)
    elif role == "redact":
        result = request["result"]
        for doc in result.get("items", [result]):
            doc.pop("secret", None)
        answer(request, result=result)
    elif role == "record":
        with open(args[0], "a") as f:
            f.write(json.dumps(request) + "\n")
        answer(request)
    elif role == "slow":
        time.sleep(float(args[0]))
        answer(request)
    elif role == "crash":
        sys.exit(3)
    elif role == "garbage":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
    elif role == "order":
        data = request["data"]
        data.setdefault("order", []).append(int(args[0]))
        answer(request, data=data)
