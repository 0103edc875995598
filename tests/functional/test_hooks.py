"""Hooks (DESIGN.md §9 "Services and hooks"): user code at before|after × create|get|find|update|
patch|remove, as exec (tests/functional/stages/hook.py) or webhook, run in the configured order."""
import json
import pathlib
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port
from test_stages import toml_value, wait_doc, wait_for, watcher

HOOK = pathlib.Path(__file__).resolve().parent / "stages" / "hook.py"
APP = '[apps.demo]\nsecret = "demo-secret-of-enough-length"\n'


def hook(role, *args):
    return [sys.executable, str(HOOK), role, *map(str, args)]


def hooks_config(*hooks, model="task"):
    """`hooks`: (on, role/args list or webhook URL, extra TOML lines)."""
    text = APP
    for on, target, *extra in hooks:
        text += f"[[apps.demo.models.{model}.hooks]]\non = {toml_value(on)}\n"
        if isinstance(target, str):
            text += f'kind = "webhook"\nurl = "{target}"\n'
        else:
            text += f'kind = "exec"\ncommand = {toml_value(hook(*target))}\n'
        text += "".join(line + "\n" for line in extra)
    return text


def test_before_hooks_stamp_what_is_stored_and_delivered(make_server, ws_clients):
    server = make_server(hooks_config((["before:create", "before:update"], ["stamp"]))).start()
    c = watcher(server, ws_clients, "task")
    t = server.token("ann", "w")
    r = server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "t1", "title": "a"})
    assert r.status_code == 201, r.text
    assert r.json()["stamped_by"] == "hook" and r.json()["stamped_for"] == "ann" and r.json()["id"] == "t1"
    (created,) = c.deliveries(1)
    assert created["data"]["stamped_by"] == "hook" and created["data"]["title"] == "a"
    r = server.request("PUT", "/v1/apps/demo/models/task/t1?wait=1", t, {"title": "b"})
    assert r.status_code == 200 and r.json()["title"] == "b" and r.json()["stamped_by"] == "hook", r.text
    (updated,) = c.deliveries(1)
    assert updated["event"] == "model_updated"
    # A create without an id: the hook saw the id the document got.
    r = server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"title": "c"})
    assert r.status_code == 201 and r.json()["id"] and r.json()["stamped_by"] == "hook"


def test_a_hook_refuses_with_its_own_status_and_body(make_server):
    server = make_server(hooks_config((["before:create"], ["guard"]))).start()
    t = server.token()
    r = server.request("POST", "/v1/apps/demo/models/task", t, {"id": "bad", "title": "forbidden"})
    assert r.status_code == 409 and r.json() == {"error": "title_taken", "message": "that title is not allowed"}, r.text
    assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "ok", "title": "fine"}).status_code == 201
    assert server.request("GET", "/v1/apps/demo/models/task/bad", t).status_code == 404


def test_hooks_restrict_a_find_and_shape_read_results(make_server):
    server = make_server(hooks_config((["before:find"], ["restrict"]), (["after:get", "after:find"], ["redact"]))).start()
    t = server.token()
    for i, public in enumerate([True, False, True]):
        doc = {"id": f"d{i}", "public": public, "secret": "s3cr3t", "n": i}
        assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, doc).status_code == 201
    r = server.request("POST", "/v1/apps/demo/models/task/query", t, {"sort": {"n": 1}})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [d["id"] for d in items] == ["d0", "d2"] and all("secret" not in d for d in items)
    got = server.request("GET", "/v1/apps/demo/models/task/d1", t)
    assert got.status_code == 200 and got.json()["n"] == 1 and "secret" not in got.json()


def test_hooks_run_in_the_configured_order(make_server):
    server = make_server(hooks_config((["before:create"], ["order", 1]), (["before:find"], ["restrict"]),
                                      (["before:create"], ["order", 2]))).start()
    r = server.request("POST", "/v1/apps/demo/models/task?wait=1", server.token(), {"id": "o"})
    assert r.status_code == 201 and r.json()["order"] == [1, 2], r.text


@pytest.mark.parametrize("role, extra", [(["crash"], []), (["slow", 3], ["timeout_ms = 300"]), (["garbage"], [])],
                         ids=["crash", "timeout", "garbage"])
def test_a_before_hook_that_fails_is_503_hook_failed_and_nothing_is_written(make_server, role, extra):
    server = make_server(hooks_config((["before:create", "before:patch"], role, *extra))).start()
    t = server.token()
    r = server.request("POST", "/v1/apps/demo/models/task", t, {"id": "x"})
    assert r.status_code == 503 and r.json()["error"] == "hook_failed", r.text
    assert server.request("GET", "/v1/apps/demo/models/task/x", t).status_code == 404
    # The API itself is fine: a model without hooks is written.
    assert server.request("POST", "/v1/apps/demo/models/other?wait=1", t, {"id": "y"}).status_code == 201


def test_an_after_get_hook_that_fails_is_503_not_an_unshaped_document(make_server):
    server = make_server(hooks_config((["after:get"], ["crash"]))).start()
    t = server.token()
    assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "x", "secret": 1}).status_code == 201
    r = server.request("GET", "/v1/apps/demo/models/task/x", t)
    assert r.status_code == 503 and r.json()["error"] == "hook_failed" and "secret" not in r.text


def test_write_hooks_see_the_request_and_after_hooks_run_once_applied(make_server, tmp_path):
    record = tmp_path / "hooks.jsonl"
    points = ["before:patch", "before:remove", "after:create", "after:patch", "after:remove"]
    server = make_server(hooks_config((points, ["record", record]))).start()
    t = server.token("bob", "phone")
    assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "r", "n": 1}).status_code == 201
    # The seed's patch form reaches the hook normalised (JSON Pointer paths).
    seed = {"op": "incr", "path": ["n"], "value": [1]}
    assert server.request("PATCH", "/v1/apps/demo/models/task/r?wait=1", t, seed).status_code == 200
    assert server.request("DELETE", "/v1/apps/demo/models/task/r?wait=1", t).status_code == 200
    lines = wait_for(lambda: (lambda l: l if len(l) == 5 else None)(record.read_text().splitlines() if record.exists() else []),
                     what="five hook calls")
    calls = [json.loads(l) for l in lines]
    assert [c["hook"] for c in calls] == ["after:create", "before:patch", "after:patch", "before:remove", "after:remove"]
    assert all(c["app"] == "demo" and c["model"] == "task" and c["id"] == "r" and c["user"] == "bob" for c in calls)
    assert calls[0]["result"]["n"] == 1 and calls[0]["result"]["version"] == 1
    assert calls[1]["patch"] == [{"op": "incr", "path": "/n", "value": 1}] and calls[1]["device"] == "phone"
    assert calls[2]["result"]["n"] == 2
    assert calls[4]["result"] == {"id": "r", "deleted": True}


class StampWebhook:
    """A webhook hook: stamps `via: "webhook"` into data; answers 500 for a title "boom"."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(request)
                if request["data"].get("title") == "boom":
                    status, body = 500, "broken"
                else:
                    status, body = 200, json.dumps({"data": dict(request["data"], via="webhook")})
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hook"


def test_a_webhook_hook_stamps_and_its_failure_is_503(make_server):
    web = StampWebhook()
    try:
        server = make_server(hooks_config((["before:create"], web.url))).start()
        t = server.token()
        r = server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "w", "title": "x"})
        assert r.status_code == 201 and r.json()["via"] == "webhook", r.text
        assert web.requests[0]["hook"] == "before:create" and web.requests[0]["id"] == "w"
        r = server.request("POST", "/v1/apps/demo/models/task", t, {"id": "b", "title": "boom"})
        assert r.status_code == 503 and r.json()["error"] == "hook_failed" and "500" in r.json()["message"], r.text
    finally:
        web.httpd.shutdown()


@pytest.mark.parametrize("hook_toml, expected", [
    ('on = ["before:explode"]\nkind = "exec"\ncommand = ["true"]\n', ["hooks[0].on", "before:explode"]),
    ('kind = "exec"\ncommand = ["true"]\n', ["hooks[0].on"]),
    ('on = ["before:create"]\nkind = "webhook"\n', ["hooks[0].url"]),
    ('on = ["before:create"]\nkind = "cpp"\nfunction = "nothing"\n', ["hooks[0].function", "nothing"]),
    ('on = ["before:create"]\nkind = "exec"\ncommand = ["true"]\ncolour = 1\n', ["hooks[0].colour", "unknown key"]),
], ids=["bad-point", "no-on", "webhook-no-url", "cpp-unregistered", "unknown-key"])
def test_a_bad_hook_stops_start_up_naming_the_key(sluice_bin, tmp_path, hook_toml, expected):
    f = tmp_path / "sluice.toml"
    f.write_text(APP + "[[apps.demo.models.task.hooks]]\n" + hook_toml)
    r = subprocess.run([sluice_bin, "serve", "--config", str(f), "--data", str(tmp_path / "data"), "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr)
    for text in ["apps.demo.models.task.", *expected]:
        assert text in r.stderr, (text, r.stderr)
