"""Model schemas (DESIGN.md §9): JSON Schema draft 7 per model, checked before a change becomes
durable (create, PUT, the result of a PATCH) and again by the writer on the latest version; a
violation is 422 `schema_violation` naming the JSON Pointer and the rule."""
import json
import subprocess

from conftest import SLUICE

TASK_SCHEMA = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "n": {"type": "integer", "maximum": 10},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}

CONFIG = """
[apps.demo]
secret = "demo-secret-of-enough-length"
[apps.demo.models.task]
schema_file = "schemas/task.json"
"""


def schema_server(make_server, tmp_path):
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "task.json").write_text(json.dumps(TASK_SCHEMA))
    return make_server(CONFIG).start()  # the config file is in tmp_path: the path is beside it


def violation(r):
    assert r.status_code == 422 and r.json()["error"] == "schema_violation", r.text
    return r.json()["message"]


def test_creates_and_replacements_are_validated(make_server, tmp_path):
    server = schema_server(make_server, tmp_path)
    t = server.token()
    ok = server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "t1", "title": "write", "tags": ["a"]})
    assert ok.status_code == 201, ok.text
    message = violation(server.request("POST", "/v1/apps/demo/models/task", t, {"id": "t2", "tags": []}))
    assert "document 't2'" in message and "title" in message
    message = violation(server.request("POST", "/v1/apps/demo/models/task", t, {"title": "x", "tags": ["a", 7]}))
    assert "at /tags/1: 'type': " in message, message
    message = violation(server.request("POST", "/v1/apps/demo/models/task", t, {"title": "x", "colour": "red"}))
    assert "additionalProperties" in message and "colour" in message
    assert "/title" in violation(server.request("PUT", "/v1/apps/demo/models/task/t1", t, {"title": ""}))
    r = server.request("PUT", "/v1/apps/demo/models/task/t1?wait=1", t, {"title": "rewrite", "n": 3})
    assert r.status_code == 200 and r.json()["n"] == 3, r.text
    assert server.request("GET", "/v1/apps/demo/models/task/t2", t).status_code == 404
    # Other models have no schema.
    assert server.request("POST", "/v1/apps/demo/models/note?wait=1", t, {"anything": [1, {"goes": True}]}).status_code == 201


def test_the_result_of_a_patch_is_validated(make_server, tmp_path):
    server = schema_server(make_server, tmp_path)
    t = server.token()
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "p1", "title": "count", "n": 1})
    message = violation(server.request("PATCH", "/v1/apps/demo/models/task/p1", t, [{"op": "replace", "path": "/n", "value": 11}]))
    assert "at /n: 'maximum': " in message and "10" in message, message
    assert "'required': Missing required property 'title'" in violation(
        server.request("PATCH", "/v1/apps/demo/models/task/p1", t, [{"op": "remove", "path": "/title"}]))
    r = server.request("PATCH", "/v1/apps/demo/models/task/p1?wait=1", t, [{"op": "incr", "path": ["n"], "value": 2}])
    assert r.status_code == 200 and r.json()["n"] == 3, r.text


def test_the_writer_checks_the_version_the_change_meets(make_server, tmp_path):
    """Two patches each fine on the version the client saw; together they break the maximum. The
    second is refused, by the API when the first is already stored, else by the writer."""
    server = schema_server(make_server, tmp_path)
    t = server.token()
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "w1", "title": "race", "n": 0})
    for attempt in range(5):
        server.request("PATCH", "/v1/apps/demo/models/task/w1", t, [{"op": "incr", "path": ["n"], "value": 6}])
        second = server.request("PATCH", "/v1/apps/demo/models/task/w1?wait=1", t, [{"op": "incr", "path": ["n"], "value": 6}])
        assert "/n" in violation(second)
        doc = server.request("GET", "/v1/apps/demo/models/task/w1", t).json()
        assert doc["n"] == 6, doc
        server.request("PATCH", "/v1/apps/demo/models/task/w1?wait=1", t, [{"op": "replace", "path": "/n", "value": 0}])


def test_a_bad_schema_file_stops_startup_naming_the_key(tmp_path):
    (tmp_path / "broken.json").write_text('{"type": 12}')
    (tmp_path / "notjson.json").write_text('{"type": ')
    for schema_file in ("missing.json", str(tmp_path / "broken.json"), str(tmp_path / "notjson.json")):
        f = tmp_path / "bad.toml"
        f.write_text(f'[apps.demo]\nsecret = "demo-secret-of-enough-length"\n[apps.demo.models.task]\nschema_file = "{schema_file}"\n')
        r = subprocess.run([str(SLUICE), "serve", "--config", str(f), "--data", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (schema_file, r.stderr)
        assert "apps.demo.models.task.schema_file" in r.stderr, r.stderr
