#!/usr/bin/env python3
"""An exec stage for the functional tests (DESIGN.md §8 JSON Lines protocol), one role per argv[1]:

  validate        before the writer: dead-letters a create without a string `title`
  gate FLAG       dead-letters ("gate closed") while the file FLAG exists, else forwards
  ratelimit       between writer and transport manager: `done` for changes whose document has
                  `quiet: true` (devices never see them), `next` for the others
  format          after the transport manager: adds `formatted_by: "format"` to every object frame
  router          before the writer: data.route "special" -> next ["special"], "nowhere" ->
                  next ["nowhere"], else the configured next
  special         before the writer: adds `via: "special"` (only reachable by a dynamic next)
  pingpong OTHER  always answers next [OTHER]
  retry           attempt 1: retry after data.retry_after_ms; later: forward with data.attempt
  flaky           data.fail ("crash" | "hang" | "garbage") while attempt <= data.fail_times;
                  otherwise forwards with data.attempt and data.pid
  slow            sleeps data.sleep seconds, forwards with data.pid

Every request is also logged on stderr as `scripted ROLE: DOC attempt N`.
"""
import json
import os
import sys
import time

role = sys.argv[1]
args = sys.argv[2:]


def reply(request, action="next", **fields):
    out = {"id": request["id"], "action": action}
    out.update(fields)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def handle(request):
    message = request["message"]
    attempt = request["attempt"]
    data = message.get("data") if isinstance(message.get("data"), dict) else {}
    if role == "validate":
        if message.get("event") == "model_created" and not isinstance(data.get("title"), str):
            return reply(request, "dead_letter", reason=f"validate: document {message['id']} has no title")
        return reply(request)
    if role == "gate":
        if os.path.exists(args[0]):
            return reply(request, "dead_letter", reason="gate closed")
        return reply(request)
    if role == "ratelimit":
        doc = message.get("after") or message.get("before") or {}
        return reply(request, "done") if doc.get("quiet") is True else reply(request)
    if role == "format":
        for d in message["deliveries"]:
            frame = json.loads(d["head"] + "0}")  # a head ends with `"seq":`, the transport adds the number
            if isinstance(frame["data"], dict):
                frame["data"]["formatted_by"] = "format"
            del frame["seq"]
            d["head"] = json.dumps(frame, separators=(",", ":"))[:-1] + ',"seq":'
        return reply(request, message=message)
    if role == "router":
        route = data.get("route")
        if route == "special":
            return reply(request, next=["special"])
        if route == "nowhere":
            return reply(request, next="nowhere")
        return reply(request)
    if role == "special":
        data["via"] = "special"
        return reply(request, message=message)
    if role == "pingpong":
        return reply(request, next=[args[0]])
    if role == "retry":
        if attempt == 1:
            return reply(request, "retry", retry_after_ms=data["retry_after_ms"], reason="not yet")
        data["attempt"] = attempt
        return reply(request, message=message)
    if role == "flaky":
        if attempt <= data.get("fail_times", 0):
            fail = data.get("fail")
            if fail == "crash":
                sys.exit(3)
            if fail == "hang":
                time.sleep(3600)
            if fail == "garbage":
                sys.stdout.write("this is not a reply\n")
                sys.stdout.flush()
                return
        data["attempt"] = attempt
        data["pid"] = os.getpid()
        return reply(request, message=message)
    if role == "slow":
        time.sleep(data.get("sleep", 0.5))
        data["pid"] = os.getpid()
        return reply(request, message=message)
    raise SystemExit(f"unknown role {role}")


for line in sys.stdin:
    if not line.strip():
        continue
    request = json.loads(line)
    print(f"scripted {role}: {request['message'].get('id')} attempt {request['attempt']}", file=sys.stderr, flush=True)
    handle(request)
