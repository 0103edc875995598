"""PUT: replacing a whole document (DESIGN.md §7, the seed's `update`). Devices get
`model_updated` with the patch that turns the old document into the new one."""
import copy

import jsonpatch_apply


def test_put_replaces_the_document_and_devices_get_the_patch_between_them(server, ws_clients):
    t = server.token("u1", "writer")
    old = {"id": "r1", "title": "first", "tags": ["x", "y"], "meta": {"n": 1, "k": "v"}, "gone": True}
    created = server.request("POST", "/v1/apps/demo/models/doc?wait=1", t, old).json()
    c = ws_clients(server.ws_url)
    c.register(server.token("u2", "watcher"))
    c.subscribe(model="doc")
    new = {"title": "second", "tags": ["x"], "meta": {"n": 2, "k": "v"}, "added": [1, 2]}
    r = server.request("PUT", "/v1/apps/demo/models/doc/r1?wait=1", t, new)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert {k: v for k, v in doc.items() if k not in ("id", "owner", "version", "created_at", "updated_at")} == new
    assert doc["id"] == "r1" and doc["version"] == 2 and doc["owner"] == created["owner"]
    assert doc["created_at"] == created["created_at"] and doc["updated_at"] >= created["updated_at"]
    assert server.request("GET", "/v1/apps/demo/models/doc/r1", t).json() == doc
    (frame,) = c.deliveries(1)
    assert frame["event"] == "model_updated" and frame["op"] and frame["seq"] == 1
    ops = frame["data"]
    assert all(op["metadata"]["id"] == "r1" and op["metadata"]["version"] == 2 for op in ops)
    # Small operations, not the whole document again: the unchanged parts are not in it.
    assert {op["path"] for op in ops} == {"/title", "/tags/1", "/meta/n", "/gone", "/added"}
    before = copy.deepcopy(created)
    assert jsonpatch_apply.apply(before, ops) == {**doc, "version": created["version"], "updated_at": created["updated_at"]}


def test_put_without_a_change_and_an_id_in_the_body(server, ws_clients):
    t = server.token("u1", "writer")
    server.request("POST", "/v1/apps/demo/models/doc?wait=1", t, {"id": "same", "a": 1})
    r = server.request("PUT", "/v1/apps/demo/models/doc/same?wait=1", t, {"id": "same", "a": 1})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["a"] == 1


def test_put_moves_a_document_out_of_a_filtered_view(server, ws_clients):
    t = server.token("u1", "writer")
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "f1", "status": "open", "n": 1})
    c = ws_clients(server.ws_url)
    c.register(server.token("u2", "filtered"))
    c.subscribe(model="task", filter={"status": "open"})
    server.request("PUT", "/v1/apps/demo/models/task/f1", t, {"status": "open", "n": 2})
    server.request("PUT", "/v1/apps/demo/models/task/f1", t, {"status": "done"})
    server.request("PUT", "/v1/apps/demo/models/task/f1", t, {"status": "open"})
    msgs = c.deliveries(3)
    assert [m["event"] for m in msgs] == ["model_updated", "model_left", "model_entered"]
    assert [(op["op"], op["path"], op.get("value")) for op in msgs[0]["data"]] == [("replace", "/n", 2)]
    assert msgs[2]["data"]["status"] == "open" and "n" not in msgs[2]["data"]


def test_bad_puts_are_refused_naming_the_problem(server):
    t = server.token("u1", "writer")
    server.request("POST", "/v1/apps/demo/models/doc?wait=1", t, {"id": "b1", "a": 1})
    missing = server.request("PUT", "/v1/apps/demo/models/doc/nope?wait=1", t, {"a": 1})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    for body, words in [([1, 2], "JSON object"), ({"version": 9}, "'version'"), ({"id": "other"}, "'id'")]:
        r = server.request("PUT", "/v1/apps/demo/models/doc/b1", t, body)
        assert 400 <= r.status_code < 500 and words in r.json()["message"], (body, r.text)
    assert server.request("GET", "/v1/apps/demo/models/doc/b1", t).json()["version"] == 1
