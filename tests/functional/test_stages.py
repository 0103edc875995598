"""The stage graph (DESIGN.md §8): custom stages in the seed's four positions, the three kinds
(exec, webhook, cpp), reply actions, the hop limit, exec robustness, webhook status mapping,
instances, start-up validation of the graph, and dead-letter replay. Everything runs for real: a
`sluice serve` process, child processes speaking JSON Lines, HTTP servers on loopback ports."""
import json
import pathlib
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import conftest
from conftest import ROOT, SLUICE, free_port

SCRIPTED = pathlib.Path(__file__).resolve().parent / "stages" / "scripted.py"
EXAMPLES = ROOT / "examples"
CPP_BIN = SLUICE.parent / "sluice-example-cpp-stage"


def scripted(role, *args):
    """The command of the test exec stage (tests/functional/stages/scripted.py) in `role`."""
    return [sys.executable, str(SCRIPTED), role, *map(str, args)]


def toml_value(v):
    return json.dumps(v)  # strings and string arrays: JSON's syntax is TOML's


def wait_for(condition, timeout=20, what="condition"):
    """Polls `condition` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        got = condition()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def run_cli(server, *args, binary=None):
    cmd = [str(binary or conftest.SLUICE), *args, "--data", str(server.data_dir)]
    if server.config:
        cmd += ["--config", str(server.config)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=server.env)


def dlq_list(server, stage=None):
    r = run_cli(server, "dlq", "list", *(["--stage", stage] if stage else []))
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def get_doc(server, token, model, doc_id):
    r = server.request("GET", f"/v1/apps/demo/models/{model}/{doc_id}", token)
    return r.json() if r.status_code == 200 else None


def wait_doc(server, token, model, doc_id, timeout=20):
    return wait_for(lambda: get_doc(server, token, model, doc_id), timeout, f"{model}/{doc_id} to be stored")


def create(server, token, model, doc, wait=False):
    r = server.request("POST", f"/v1/apps/demo/models/{model}" + ("?wait=1" if wait else ""), token, doc)
    assert r.status_code in (201, 202), r.text
    return r.json()


def wait_len(fetch, n, what):
    """Polls `fetch()` until it returns a list of `n` items; returns it."""
    return wait_for(lambda: (lambda items: items if len(items) == n else None)(fetch()), what=what)


def log_count(server, text):
    return server.read_log().count(text)


def wait_log(server, text, count=1):
    """Waits until Sluice's log holds `text` (at least `count` times): a child's stderr is logged by
    a thread of its own, so it may land just after the child's reply."""
    wait_for(lambda: log_count(server, text) >= count, what=f"{text!r} in the log")


# ----- HTTP servers ------------------------------------------------------------------------------

class Hook:
    """A scripted webhook on a loopback port. `plan[doc id]` lists the answers (status, body,
    headers), or functions of the message returning one, for attempts 1, 2, ... (the last one
    repeats); a doc with no plan gets 204."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.plan = {}
        self.calls = []  # (time, headers, message)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.calls.append((time.time(), dict(self.headers), message))
                answers = hook.plan.get(message.get("id"), [(204, "", {})])
                attempt = int(self.headers["Sluice-Attempt"])
                answer = answers[min(attempt, len(answers)) - 1]
                status, body, headers = answer(message) if callable(answer) else answer
                body = body if isinstance(body, str) else json.dumps(body)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body.encode())))
                    self.end_headers()
                    self.wfile.write(body.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # Sluice gave up waiting (timeout_ms)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def calls_for(self, doc_id):
        return [(t, h, m) for t, h, m in self.calls if m.get("id") == doc_id]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hooks():
    made = []

    def make(port=None):
        h = Hook(port)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


@pytest.fixture
def audit_server(tmp_path):
    """examples/webhook-stage/server.py, run as a user would."""
    port = free_port()
    log = open(tmp_path / "audit.log", "wb")
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "webhook-stage" / "server.py"), str(port), str(tmp_path / "audit.jsonl")],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(url + "/records", timeout=1).status_code == 200
        except requests.ConnectionError:
            assert proc.poll() is None, "the audit server exited"
            return False

    wait_for(up, 10, "the audit server")
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


def watcher(server, ws_clients, model, device="watcher"):
    c = ws_clients(server.ws_url)
    assert c.register(server.token("watch", device))["data"]["success"] is True
    c.subscribe(model=model)
    return c


# ----- the four positions ------------------------------------------------------------------------

def test_before_the_writer_the_exec_example_enriches_stored_documents_and_frames(make_server, ws_clients):
    server = make_server(f"""
[api]
next = ["enrich"]
[stages.enrich]
kind = "exec"
command = {toml_value([sys.executable, str(EXAMPLES / "exec-stage" / "enrich.py")])}
next = ["writer"]
""").start()
    t = server.token("u1", "writer")
    c = watcher(server, ws_clients, "post")
    create(server, t, "post", {"id": "p1", "title": "Hello, Stage World!"})
    created = c.deliveries(1)[0]
    assert created["event"] == "model_created" and created["data"]["slug"] == "hello-stage-world"
    assert get_doc(server, t, "post", "p1")["slug"] == "hello-stage-world"
    r = server.request("PATCH", "/v1/apps/demo/models/post/p1?wait=1", t, [{"op": "replace", "path": "/title", "value": "Second Take"}])
    assert r.status_code == 200 and r.json()["slug"] == "second-take"
    updated = c.deliveries(1)[0]
    assert [(op["path"], op["value"]) for op in updated["data"]] == [("/title", "Second Take"), ("/slug", "second-take")]
    # A write the stage does not edit goes on unchanged; the child's stderr is in Sluice's log.
    create(server, t, "post", {"id": "p2", "body": "untitled"})
    assert c.deliveries(1)[0]["data"]["id"] == "p2"
    assert "slug" not in get_doc(server, t, "post", "p2")
    wait_log(server, "enrich.py: ready")


def test_before_the_writer_a_validating_stage_dead_letters_a_bad_write(make_server, ws_clients):
    server = make_server(f"""
[api]
next = ["validate"]
[stages.validate]
kind = "exec"
command = {toml_value(scripted("validate"))}
next = ["writer"]
""").start()
    t = server.token("u1", "writer")
    c = watcher(server, ws_clients, "task")
    bad = create(server, t, "task", {"id": "bad", "note": "no title"})
    good = create(server, t, "task", {"id": "good", "title": "fine"}, wait=True)
    assert good["title"] == "fine"
    (dead,) = wait_for(lambda: dlq_list(server, "validate"), what="the dead letter")
    assert dead["stage"] == "validate" and dead["op"] == bad["op"]
    assert dead["reason"] == "validate: document bad has no title"
    body = json.loads(dead["body"])  # the write request as the stage got it
    assert body["id"] == "bad" and body["event"] == "model_created" and body["data"] == {"note": "no title"}
    assert get_doc(server, t, "task", "bad") is None  # it never reached the store ...
    assert [m["data"]["id"] for m in c.deliveries(1)] == ["good"]
    assert dlq_list(server, "writer") == []  # ... nor the writer


def test_beside_the_transport_manager_the_audit_webhook_gets_every_envelope(make_server, ws_clients, audit_server):
    server = make_server(f"""
[stages.writer]
next = ["transport-manager", "audit"]
[stages.audit]
kind = "webhook"
url = "{audit_server}/audit"
""").start()
    t = server.token("u1", "writer")
    c = watcher(server, ws_clients, "task")
    ops = [create(server, t, "task", {"id": "a1", "n": 1})["op"]]
    ops.append(server.request("PATCH", "/v1/apps/demo/models/task/a1", t, [{"op": "replace", "path": "/n", "value": 2}]).json()["op"])
    ops.append(server.request("DELETE", "/v1/apps/demo/models/task/a1", t).json()["op"])
    ops.append(create(server, t, "other", {"id": "o1"})["op"])  # no device follows it: audited all the same
    frames = c.deliveries(3)
    assert [f["event"] for f in frames] == ["model_created", "model_updated", "model_deleted"]
    assert [f["op"] for f in frames] == ops[:3]
    records = wait_len(lambda: requests.get(audit_server + "/records", timeout=5).json(), 4, "4 audit records")
    task = [r for r in records if r["envelope"]["model"] == "task"]
    assert [r["envelope"]["event"] for r in task] == ["model_created", "model_updated", "model_deleted"]
    assert sorted(r["op"] for r in records) == sorted(ops)
    for r in records:
        assert r["stage"] == "audit" and r["attempt"] == 1 and r["op"] == r["envelope"]["op"]
    assert task[1]["envelope"]["patch"] == [{"op": "replace", "path": "/n", "value": 2}]
    assert task[1]["envelope"]["before"]["n"] == 1 and task[1]["envelope"]["after"]["n"] == 2


def test_between_writer_and_transport_manager_done_hides_changes_from_devices(make_server, ws_clients):
    server = make_server(f"""
[stages.writer]
next = ["ratelimit"]
[stages.ratelimit]
kind = "exec"
command = {toml_value(scripted("ratelimit"))}
next = ["transport-manager"]
""").start()
    t = server.token("u1", "writer")
    c = watcher(server, ws_clients, "task")
    create(server, t, "task", {"id": "quiet", "quiet": True}, wait=True)
    create(server, t, "task", {"id": "loud"}, wait=True)
    wait_log(server, "scripted ratelimit: quiet attempt 1")
    create(server, t, "task", {"id": "marker"})
    frames = c.deliveries(2)
    assert [f["data"]["id"] for f in frames] == ["loud", "marker"] and [f["seq"] for f in frames] == [1, 2]
    assert get_doc(server, t, "task", "quiet")["quiet"] is True  # stored, never delivered


def test_after_the_transport_manager_a_format_stage_edits_the_delivery_batch(make_server, ws_clients):
    server = make_server(f"""
[stages.transport-manager.transports]
websocket = "format"
[stages.format]
kind = "exec"
command = {toml_value(scripted("format"))}
next = ["websockets-transport"]
""").start()
    t = server.token("u1", "writer")
    c = watcher(server, ws_clients, "task")
    op = create(server, t, "task", {"id": "f1", "title": "x"})["op"]
    server.request("PATCH", "/v1/apps/demo/models/task/f1", t, [{"op": "replace", "path": "/title", "value": "y"}])
    created, updated = c.deliveries(2)
    assert created["event"] == "model_created" and created["op"] == op and created["seq"] == 1
    assert created["data"]["formatted_by"] == "format" and created["data"]["title"] == "x"
    assert updated["event"] == "model_updated" and updated["seq"] == 2 and updated["data"][0]["value"] == "y"
    assert "formatted_by" not in get_doc(server, t, "task", "f1")  # only the frames were edited


def test_cpp_stage_example_redacts_between_writer_and_transport_manager(make_server, ws_clients, monkeypatch):
    assert CPP_BIN.exists(), f"{CPP_BIN} not built"
    monkeypatch.setattr(conftest, "SLUICE", CPP_BIN)  # the example is a whole `sluice`
    server = make_server("""
[stages.writer]
next = ["hide"]
[stages.hide]
kind = "cpp"
function = "redact"
next = ["transport-manager"]
""").start()
    t = server.token("u1", "writer")
    c = watcher(server, ws_clients, "user")
    create(server, t, "user", {"id": "u1", "name": "Ann", "password": "hunter2"})
    for patch in ([{"op": "replace", "path": "/password", "value": "s3cret"}],
                  [{"op": "replace", "path": "/name", "value": "Bo"}, {"op": "add", "path": "/secret", "value": "x"}]):
        assert server.request("PATCH", "/v1/apps/demo/models/user/u1", t, patch).status_code == 202
    created, updated = c.deliveries(2)
    assert created["event"] == "model_created" and created["data"]["name"] == "Ann" and "password" not in created["data"]
    assert updated["event"] == "model_updated" and [op["path"] for op in updated["data"]] == ["/name"]
    assert [created["seq"], updated["seq"]] == [1, 2]  # the password-only change was never sent
    doc = wait_for(lambda: (lambda d: d if d and d["version"] == 3 else None)(get_doc(server, t, "user", "u1")))
    assert doc["password"] == "s3cret" and doc["secret"] == "x" and doc["name"] == "Bo"  # the store keeps them


# ----- reply actions -----------------------------------------------------------------------------

def test_dynamic_next_reaches_an_unreferenced_stage_and_an_unknown_one_is_dead_lettered(make_server):
    server = make_server(f"""
[api]
next = ["router"]
[stages.router]
kind = "exec"
command = {toml_value(scripted("router"))}
next = ["writer"]
[stages.special]
kind = "exec"
command = {toml_value(scripted("special"))}
next = ["writer"]
""").start()
    t = server.token("u1", "writer")
    lost = create(server, t, "task", {"id": "lost", "route": "nowhere"})
    assert create(server, t, "task", {"id": "vip", "route": "special"}, wait=True)["via"] == "special"
    assert "via" not in create(server, t, "task", {"id": "plain"}, wait=True)
    (dead,) = wait_for(lambda: dlq_list(server, "router"), what="the dead letter")
    assert dead["op"] == lost["op"] and "nowhere" in dead["reason"] and "unknown stage" in dead["reason"]
    assert get_doc(server, t, "task", "lost") is None
    wait_log(server, "scripted special: vip attempt 1")
    assert log_count(server, "scripted special:") == 1


def test_retry_with_retry_after_ms_then_success(make_server):
    server = make_server(f"""
[api]
next = ["retrier"]
[stages.retrier]
kind = "exec"
command = {toml_value(scripted("retry"))}
next = ["writer"]
backoff_ms = [20, 40]
""").start()
    t = server.token("u1", "writer")
    started = time.time()
    doc = create(server, t, "task", {"id": "r1", "retry_after_ms": 1200}, wait=True)
    elapsed = time.time() - started
    assert doc["attempt"] == 2  # the second request said attempt 2
    assert elapsed >= 1.1, elapsed  # the stage's 1200 ms, not its 20 ms backoff
    wait_log(server, "scripted retry: r1 attempt 1")
    wait_log(server, "scripted retry: r1 attempt 2")
    assert dlq_list(server) == []


def test_hop_limit_dead_letters_a_message_sent_back_and_forth(make_server):
    server = make_server(f"""
[limits]
max_hops = 5
[api]
next = ["ping"]
[stages.ping]
kind = "exec"
command = {toml_value(scripted("pingpong", "pong"))}
[stages.pong]
kind = "exec"
command = {toml_value(scripted("pingpong", "ping"))}
""").start()
    t = server.token("u1", "writer")
    op = create(server, t, "task", {"id": "loop"})["op"]
    (dead,) = wait_for(lambda: dlq_list(server), what="the hop-limit dead letter")
    assert dead["reason"] == "hop limit" and dead["op"] == op and dead["stage"] in ("ping", "pong")
    handled = log_count(server, "scripted pingpong: loop")
    assert 5 <= handled <= 7, handled  # about max_hops stages, then it stopped
    time.sleep(0.5)  # (no condition to wait for: this checks that nothing happens any more)
    assert log_count(server, "scripted pingpong: loop") == handled
    assert get_doc(server, t, "task", "loop") is None


# ----- exec robustness ---------------------------------------------------------------------------

def flaky_server(make_server, **settings):
    extra = "\n".join(f"{k} = {toml_value(v)}" for k, v in settings.items())
    return make_server(f"""
[api]
next = ["flaky"]
[stages.flaky]
kind = "exec"
command = {toml_value(scripted("flaky"))}
next = ["writer"]
timeout_ms = 800
{extra}
""").start()


@pytest.mark.parametrize("fail", ["crash", "hang", "garbage"])
def test_a_failing_child_is_restarted_and_counts_an_attempt_while_others_flow(make_server, ws_clients, fail):
    server = flaky_server(make_server, max_attempts=5, backoff_ms=[1000, 1000])
    t = server.token("u1", "writer")
    c = watcher(server, ws_clients, "task")
    create(server, t, "task", {"id": "sick", "fail": fail, "fail_times": 2})
    wait_log(server, "scripted flaky: sick attempt 1")
    create(server, t, "task", {"id": "healthy"})
    frames = c.deliveries(2)
    # The healthy message behind the failing one was not held up by its retries.
    assert [f["data"]["id"] for f in frames] == ["healthy", "sick"]
    sick = get_doc(server, t, "task", "sick")
    assert sick["attempt"] == 3  # two failed attempts, then the third request said attempt 3
    for n in (1, 2, 3):
        wait_log(server, f"scripted flaky: sick attempt {n}")  # the child's stderr is in Sluice's log
    log = server.read_log()
    assert log.count("stage flaky #0: child started") == 3  # the first child and two restarts
    assert log.count("restarting it") == 2
    if fail == "hang":
        assert "did not answer within 800 ms" in log
    if fail == "garbage":
        assert "not a reply" in log
    assert dlq_list(server) == []


@pytest.mark.parametrize("policy", ["dead-letter", "drop", "continue"])
def test_on_failure_policy_after_max_attempts(make_server, policy):
    server = flaky_server(make_server, max_attempts=2, backoff_ms=[50, 100], on_failure=policy)
    t = server.token("u1", "writer")
    bad = create(server, t, "task", {"id": "doomed", "fail": "crash", "fail_times": 99})
    wait_log(server, "scripted flaky: doomed attempt 2")
    after = create(server, t, "task", {"id": "after"}, wait=True)  # the queue still flows
    assert after["attempt"] == 1
    if policy == "dead-letter":
        (dead,) = wait_for(lambda: dlq_list(server, "flaky"), what="the dead letter")
        assert dead["op"] == bad["op"] and "after 2 attempts" in dead["reason"] and "child process" in dead["reason"]
        assert get_doc(server, t, "task", "doomed") is None
    elif policy == "drop":
        wait_log(server, "dropped after 2 attempts")
        assert get_doc(server, t, "task", "doomed") is None and dlq_list(server) == []
    else:  # forwarded unchanged: stored without the stage's edits
        doc = wait_doc(server, t, "task", "doomed")
        assert doc["fail"] == "crash" and "attempt" not in doc and dlq_list(server) == []
    assert "scripted flaky: doomed attempt 3" not in server.read_log()


# ----- webhook status mapping --------------------------------------------------------------------

def webhook_server(make_server, url, **settings):
    extra = "\n".join(f"{k} = {toml_value(v)}" for k, v in settings.items())
    return make_server(f"""
[api]
next = ["hook"]
[stages.hook]
kind = "webhook"
url = "{url}"
next = ["writer"]
backoff_ms = [50, 100]
{extra}
""").start()


def with_field(message):
    """A webhook reply (2xx, JSON) forwarding the message with a field added."""
    message["data"]["hooked"] = True
    return 200, {"action": "next", "message": message}, {"Content-Type": "application/json"}


def stall(seconds, then):
    """A webhook answer that comes only after `seconds`."""
    def answer(message):
        time.sleep(seconds)
        return then
    return answer


def test_webhook_status_mapping(make_server, hooks):
    hook = hooks()
    long_text = "title must not be empty; " + "x" * 1000
    hook.plan = {
        "json-reply": [with_field],
        "json-dead": [(200, {"action": "dead_letter", "reason": "the hook says no"}, {})],
        "busy": [(503, "busy", {"Retry-After": "1"}), (204, "", {})],
        "slow-down": [(429, "", {"Retry-After": "1"}), (200, "", {})],
        "timeout": [(408, "", {}), (204, "", {})],
        "oops": [(500, "boom", {}), (502, "", {}), (204, "", {})],
        "invalid": [(422, long_text, {})],
        "missing": [(404, "no such route", {})],
    }
    server = webhook_server(make_server, hook.url, max_attempts=5)
    t = server.token("u1", "writer")
    ops = {doc_id: create(server, t, "task", {"id": doc_id, "n": 1})["op"] for doc_id in ["plain", *hook.plan]}
    # 2xx with an empty body: forwarded unchanged; with a JSON body: a reply.
    assert wait_doc(server, t, "task", "plain")["n"] == 1 and "hooked" not in get_doc(server, t, "task", "plain")
    assert wait_doc(server, t, "task", "json-reply")["hooked"] is True
    # 408, 429, 5xx: retried until the hook accepts.
    for doc_id in ("busy", "slow-down", "timeout", "oops"):
        assert wait_doc(server, t, "task", doc_id)["id"] == doc_id
    assert len(hook.calls_for("plain")) == 1 and len(hook.calls_for("oops")) == 3 and len(hook.calls_for("timeout")) == 2
    for doc_id in ("busy", "slow-down"):  # Retry-After: 1 (seconds), not the 50 ms backoff
        (t1, _, _), (t2, _, _) = hook.calls_for(doc_id)
        assert t2 - t1 >= 0.9, (doc_id, t2 - t1)
    (t1, _, _), (t2, _, _) = hook.calls_for("timeout")
    assert t2 - t1 < 0.9  # without Retry-After: the stage's backoff
    # Another 4xx (and a dead_letter reply): dead-lettered at once, with the status and the body's start.
    dead = wait_len(lambda: dlq_list(server, "hook"), 3, "3 dead letters")
    dead = {json.loads(d["body"])["id"]: d for d in dead}
    assert dead["json-dead"]["reason"] == "the hook says no"
    assert dead["invalid"]["reason"].startswith("HTTP 422: title must not be empty; xxx")
    assert len(dead["invalid"]["reason"]) < 400  # the start of the body only
    assert dead["missing"]["reason"] == "HTTP 404: no such route"
    assert len(hook.calls_for("invalid")) == 1 and len(hook.calls_for("missing")) == 1  # not retried
    for doc_id in ("json-dead", "invalid", "missing"):
        assert get_doc(server, t, "task", doc_id) is None
    # Every request carries the stage, the attempt (counting up on retries) and the op.
    for doc_id, op in ops.items():
        calls = hook.calls_for(doc_id)
        assert calls, doc_id
        for n, (_, headers, message) in enumerate(calls, 1):
            assert headers["Sluice-Stage"] == "hook" and headers["Sluice-Op"] == op and headers["Sluice-Attempt"] == str(n)
            assert message["op"] == op and message["event"] == "model_created"


def test_webhook_answering_past_timeout_ms_is_retried_once_per_attempt(make_server, hooks):
    hook = hooks()
    hook.plan = {"stalled": [stall(2.5, (204, "", {})), (204, "", {})]}
    server = webhook_server(make_server, hook.url, timeout_ms=1000)
    t = server.token("u1", "writer")
    create(server, t, "task", {"id": "first"}, wait=True)  # the stage's connection is now a kept-alive one
    op = create(server, t, "task", {"id": "stalled"})["op"]
    assert wait_doc(server, t, "task", "stalled")["id"] == "stalled"
    calls = hook.calls_for("stalled")
    assert [(h["Sluice-Attempt"], h["Sluice-Op"]) for _, h, _ in calls] == [("1", op), ("2", op)]
    assert 0.9 <= calls[1][0] - calls[0][0] < 2.0  # timeout_ms (1000), then the 50 ms backoff
    assert "timed out after 1000 ms" in server.read_log()


def test_webhook_connection_refused_is_retried_until_the_server_answers(make_server, hooks):
    port = free_port()  # nothing listens here yet
    server = webhook_server(make_server, f"http://127.0.0.1:{port}/hook", max_attempts=1000)
    t = server.token("u1", "writer")
    create(server, t, "task", {"id": "patient"})
    wait_log(server, "connect: Connection refused", count=3)  # retried, not dead-lettered
    assert get_doc(server, t, "task", "patient") is None and dlq_list(server) == []
    hook = hooks(port)
    assert wait_doc(server, t, "task", "patient")["id"] == "patient"
    assert len(hook.calls_for("patient")) == 1
    assert int(hook.calls_for("patient")[0][1]["Sluice-Attempt"]) >= 4


# ----- instances ---------------------------------------------------------------------------------

def test_instances_run_exec_children_in_parallel(make_server):
    def run(instances):
        server = make_server(f"""
[api]
next = ["slow"]
[stages.slow]
kind = "exec"
command = {toml_value(scripted("slow"))}
next = ["writer"]
instances = {instances}
""", name=f"instances-{instances}").start()
        t = server.token("u1", "writer")
        started = time.time()
        for i in range(4):
            create(server, t, "task", {"id": f"s{i}", "sleep": 0.8})
        docs = [wait_doc(server, t, "task", f"s{i}", timeout=30) for i in range(4)]
        elapsed = time.time() - started
        server.stop()
        return elapsed, {d["pid"] for d in docs}

    serial, serial_pids = run(1)
    parallel, parallel_pids = run(4)
    assert len(serial_pids) == 1 and len(parallel_pids) == 4  # one child per instance
    assert serial >= 3.2  # 4 x 0.8 s, one after the other
    assert parallel < serial * 0.6, (parallel, serial)


# ----- graph validation at start-up ---------------------------------------------------------------

EXEC = toml_value(scripted("validate"))


@pytest.mark.parametrize("config, expected", [
    ('[api]\nnext = ["nope"]\n', ["api.next", "nope"]),
    ('[stages.writer]\nnext = ["transport-manager", "ghost"]\n', ["stages.writer.next", "ghost"]),
    ('[stages.transport-manager.transports]\nwebsocket = "fmt"\n', ["stages.transport-manager.transports.websocket", "fmt"]),
    (f'[stages.x]\nkind = "exec"\ncommand = {EXEC}\nnext = ["missing-stage"]\n', ["stages.x.next", "missing-stage"]),
    ('[stages.transport-manager]\nnext = ["writer"]\n', ["cycle", "writer", "transport-manager"]),
    ('[stages.x]\nnext = ["writer"]\n', ["stages.x.kind"]),
    ('[stages.x]\nkind = "exec"\nnext = ["writer"]\n', ["stages.x.command"]),
    ('[stages.x]\nkind = "webhook"\n', ["stages.x.url"]),
    ('[stages.x]\nkind = "cpp"\n', ["stages.x.function", "'x'"]),
    ('[stages.x]\nkind = "cpp"\nfunction = "redact"\n', ["stages.x.function", "'redact'"]),
    ('[stages.x]\nkind = "lambda"\n', ["stages.x.kind", "lambda"]),
    (f'[stages.x]\nkind = "exec"\ncommand = {EXEC}\ncolour = "red"\n', ["stages.x.colour", "unknown key"]),
    ('[api]\nprevious = ["writer"]\n', ["api.previous", "unknown key"]),
    ('[stages.writer]\nkind = "exec"\n', ["stages.writer.kind", "built-in"]),
    ('[stages.writer]\non_failure = "ignore"\n', ["stages.writer.on_failure", "ignore"]),
], ids=["api-next", "next", "transports", "custom-next", "builtin-cycle", "no-kind", "exec-no-command", "webhook-no-url",
        "cpp-unregistered", "cpp-function-unregistered", "bad-kind", "unknown-stage-key", "unknown-api-key", "builtin-kind",
        "bad-on-failure"])
def test_a_bad_graph_stops_start_up_naming_the_stage(sluice_bin, tmp_path, config, expected):
    f = tmp_path / "sluice.toml"
    f.write_text(config)
    r = subprocess.run([sluice_bin, "serve", "--config", str(f), "--data", str(tmp_path / "data"), "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr)
    for text in expected:
        assert text in r.stderr, (text, r.stderr)


def test_a_stage_no_next_names_and_a_registered_cpp_stage_are_valid(make_server, monkeypatch):
    monkeypatch.setattr(conftest, "SLUICE", CPP_BIN)
    server = make_server(f"""
[stages.orphan]
kind = "exec"
command = {toml_value(scripted("validate"))}
[stages.x]
kind = "cpp"
function = "redact"
""").start()
    assert server.proc.poll() is None


# ----- replay after a fix -------------------------------------------------------------------------

def test_dead_letters_replayed_after_a_fix_are_delivered(make_server, ws_clients, tmp_path):
    flag = tmp_path / "gate-closed"
    flag.write_text("closed")
    server = make_server(f"""
[api]
next = ["gate"]
[stages.gate]
kind = "exec"
command = {toml_value(scripted("gate", flag))}
next = ["writer"]
""").start()
    t = server.token("u1", "writer")
    c = watcher(server, ws_clients, "task")
    ops = {doc_id: create(server, t, "task", {"id": doc_id})["op"] for doc_id in ("g1", "g2", "g3")}
    dead = wait_len(lambda: dlq_list(server, "gate"), 3, "3 dead letters")
    assert {d["reason"] for d in dead} == {"gate closed"} and sorted(d["op"] for d in dead) == sorted(ops.values())
    assert get_doc(server, t, "task", "g1") is None
    flag.unlink()  # the fix
    first = next(d for d in dead if d["op"] == ops["g2"])
    r = run_cli(server, "dlq", "replay", "--stage", "gate", "--id", str(first["id"]))
    assert r.returncode == 0 and "1 message(s) replayed" in r.stdout, (r.stdout, r.stderr)
    (frame,) = c.deliveries(1)
    assert frame["event"] == "model_created" and frame["data"]["id"] == "g2" and frame["op"] == ops["g2"]
    assert sorted(json.loads(d["body"])["id"] for d in dlq_list(server, "gate")) == ["g1", "g3"]
    r = run_cli(server, "dlq", "replay", "--stage", "gate")
    assert r.returncode == 0 and "2 message(s) replayed" in r.stdout, (r.stdout, r.stderr)
    frames = c.deliveries(2)
    assert sorted(f["data"]["id"] for f in frames) == ["g1", "g3"] and [f["seq"] for f in frames] == [2, 3]
    assert dlq_list(server) == []
    for doc_id in ("g1", "g2", "g3"):
        assert get_doc(server, t, "task", doc_id)["id"] == doc_id
