"""Listeners (DESIGN.md §9): durable subscribers to model events, each with its own queue fed by
the writer: the events and documents it selects, at least once, retried then dead-lettered."""
import json
import subprocess
import sys
import time

from conftest import SLUICE
from test_stages import EXAMPLES, dlq_list, toml_value, wait_for

# An exec listener: records each event it gets as a JSON line in argv[1]; one whose document has
# `fail: true` it cannot handle (retry, then the stage's on_failure).
LISTENER = r"""
import json, os, sys
out = open(sys.argv[1], "a")
for line in sys.stdin:
    request = json.loads(line)
    env = request["message"]
    doc = env.get("after") or env.get("before") or {}
    if doc.get("fail"):
        print(json.dumps({"id": request["id"], "action": "retry", "reason": "cannot handle " + env["id"]}), flush=True)
        continue
    out.write(json.dumps({"event": env["event"], "replaced": env.get("replaced", False), "id": env["id"],
                          "op": env["op"], "attempt": request["attempt"], "pid": os.getpid()}) + "\n")
    out.flush()
    print(json.dumps({"id": request["id"], "action": "next"}), flush=True)
"""


def listener_config(tmp_path, name, extra=""):
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    log = tmp_path / f"{name}.jsonl"
    return log, f"""
[listeners.{name}]
app = "demo"
model = "user"
kind = "exec"
command = {toml_value([sys.executable, str(script), str(log)])}
{extra}
"""


def received(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_listeners_get_the_events_and_documents_they_select(make_server, tmp_path):
    everything, all_config = listener_config(tmp_path, "everything")
    welcome, welcome_config = listener_config(tmp_path, "welcome", 'events = ["created"]\nfilter = { plan = "pro" }')
    server = make_server(all_config + welcome_config).start()
    t = server.token()
    base = "/v1/apps/demo/models/user"
    assert server.request("POST", base + "?wait=1", t, {"id": "u1", "plan": "pro"}).status_code == 201
    assert server.request("POST", base + "?wait=1", t, {"id": "u2", "plan": "free"}).status_code == 201
    assert server.request("PATCH", base + "/u1?wait=1", t, [{"op": "add", "path": "/seen", "value": 1}]).status_code == 200
    assert server.request("PUT", base + "/u1?wait=1", t, {"plan": "pro", "name": "Ann"}).status_code == 200
    assert server.request("DELETE", base + "/u2?wait=1", t).status_code == 200
    assert server.request("POST", "/v1/apps/demo/models/other?wait=1", t, {"id": "o1", "plan": "pro"}).status_code == 201
    got = wait_for(lambda: (lambda r: r if len(r) >= 5 else None)(received(everything)), what="5 events for `everything`")
    # In order per document (across documents the queue promises nothing).
    per_doc = {d: [(e["event"], e["replaced"]) for e in got if e["id"] == d] for d in ("u1", "u2")}
    assert per_doc == {"u1": [("model_created", False), ("model_updated", False), ("model_updated", True)],
                       "u2": [("model_created", False), ("model_deleted", False)]}
    assert [e["id"] for e in wait_for(lambda: received(welcome), what="the welcome event")] == ["u1"]
    # A marker after everything else: nothing more arrives for either listener.
    assert server.request("POST", base + "?wait=1", t, {"id": "u3", "plan": "pro"}).status_code == 201
    for log, count in ((welcome, 2), (everything, 6)):
        wait_for(lambda: any(e["id"] == "u3" for e in received(log)), what="the marker")
        time.sleep(0.3)  # anything wrongly sent to the listener would come with or before the marker
        assert len(received(log)) == count, received(log)
    assert all(e["attempt"] == 1 for e in received(everything))


def test_an_event_the_listener_cannot_handle_is_retried_then_dead_lettered(make_server, tmp_path):
    log, config = listener_config(tmp_path, "picky", "max_attempts = 3\nbackoff_ms = [20, 50]")
    server = make_server(config).start()
    t = server.token()
    for doc in ({"id": "a"}, {"id": "bad", "fail": True}, {"id": "b"}):
        assert server.request("POST", "/v1/apps/demo/models/user?wait=1", t, doc).status_code == 201
    (dead,) = wait_for(lambda: dlq_list(server, "picky"), what="the dead letter")
    assert dead["stage"] == "picky" and "cannot handle bad" in dead["reason"] and "3 attempts" in dead["reason"]
    assert json.loads(dead["body"])["id"] == "bad"
    assert sorted(e["id"] for e in received(log)) == ["a", "b"]  # the others flowed


def test_a_listener_is_configured_like_a_stage_and_checked_at_start(tmp_path):
    cases = {
        'app = "demo"\nkind = "exec"\ncommand = ["true"]\n': "listeners.l.model",
        'app = "demo"\nmodel = "m"\nevents = ["made"]\nkind = "exec"\ncommand = ["true"]\n': "listeners.l.events",
        'app = "demo"\nmodel = "m"\nfilter = { n = { "$bogus" = 1 } }\nkind = "exec"\ncommand = ["true"]\n': "listeners.l.filter",
        'app = "demo"\nmodel = "m"\n': "listeners.l.kind",
        'app = "demo"\nmodel = "m"\nkind = "webhook"\nurl = "http://127.0.0.1:1/"\nnext = ["writer"]\n': "listeners.l.next",
    }
    for text, key in cases.items():
        f = tmp_path / "l.toml"
        f.write_text("[listeners.l]\n" + text)
        r = subprocess.run([str(SLUICE), "serve", "--config", str(f), "--data", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2 and key in r.stderr, (text, r.stderr)
    f = tmp_path / "clash.toml"
    f.write_text('[stages.audit]\nkind = "exec"\ncommand = ["true"]\n[listeners.audit]\napp = "a"\nmodel = "m"\nkind = "exec"\ncommand = ["true"]\n')
    r = subprocess.run([str(SLUICE), "serve", "--config", str(f), "--data", str(tmp_path / "d")], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "listeners.audit" in r.stderr, r.stderr


def test_the_welcome_example(make_server, tmp_path):
    """examples/listener, as its README shows it."""
    outbox = tmp_path / "outbox.jsonl"
    server = make_server(f"""
[listeners.welcome]
app = "demo"
model = "user"
events = ["created"]
filter = {{ plan = "pro" }}
kind = "exec"
command = {toml_value([sys.executable, str(EXAMPLES / "listener" / "welcome.py"), str(outbox)])}
max_attempts = 3
backoff_ms = [100, 1000]
""").start()
    t = server.token()
    for doc in ({"id": "ann", "plan": "pro", "email": "ann@example.com"}, {"id": "cid", "plan": "free", "email": "c@example.com"},
                {"id": "bob", "plan": "pro"}):
        assert server.request("POST", "/v1/apps/demo/models/user", t, doc).status_code == 202
    (dead,) = wait_for(lambda: dlq_list(server, "welcome"), what="bob's dead letter")
    assert "user bob has no e-mail address" in dead["reason"]
    sent = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(m["to"], m["subject"]) for m in sent] == [("ann@example.com", "Welcome, ann!")]
