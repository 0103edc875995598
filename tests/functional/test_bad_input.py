"""Bad input gets a clear error naming the offending part, and never crashes the server or loses
accepted data (DESIGN.md §7, the engineering rules)."""
import asyncio
import json
import subprocess
import time

import requests
import websockets

from conftest import SLUICE


def test_http_errors_name_the_problem(make_server):
    server = make_server(env={"SLUICE_LIMITS_MAX_BODY_BYTES": "2048"}).start()
    t = server.token()
    r = server.request("POST", "/v1/apps/demo/models/task", t, raw='{"title": "x",')
    assert r.status_code == 400 and r.json()["error"] == "invalid_json" and "offset" in r.json()["message"]
    r = server.request("POST", "/v1/apps/demo/models/task/query", t, {"filter": {"n": {"$bogus": 1}}})
    assert r.status_code == 400 and "$bogus" in r.json()["message"]
    r = server.request("POST", "/v1/apps/demo/subscriptions", t, {"model": "task", "filter": {"n": {"$in": 5}}})
    assert r.status_code == 400 and "$in" in r.json()["message"]
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "a", "n": 1})
    r = server.request("PATCH", "/v1/apps/demo/models/task/a", t,
                       [{"op": "replace", "path": "/n", "value": 2}, {"op": "test", "path": "/n", "value": 3}])
    assert r.status_code == 422 and "operation 1" in r.json()["message"]
    r = server.request("PATCH", "/v1/apps/demo/models/task/a", t, [{"op": "fly", "path": "/n"}])
    assert r.status_code == 400 and "operation 0" in r.json()["message"] and "fly" in r.json()["message"]
    r = server.request("PATCH", "/v1/apps/demo/models/task/a", t, [{"op": "replace", "path": "/version", "value": 9}])
    assert r.status_code == 422 and "version" in r.json()["message"]
    r = server.request("PATCH", "/v1/apps/demo/models/task/a", t, [{"op": "replace", "path": "", "value": 5}])
    assert r.status_code == 422 and "must stay a JSON object" in r.json()["message"], r.text
    r = server.request("POST", "/v1/apps/demo/models/task", t, {"owner": "mallory"})
    assert r.status_code == 400 and "owner" in r.json()["message"]
    r = server.request("POST", "/v1/apps/demo/models/task", t, {"big": "x" * 5000})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = server.http.get(server.url + "/healthz", headers={"X-Big": "y" * 20000}, timeout=10)
    assert r.status_code == 431
    r = server.request("GET", "/v1/nowhere", t)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert server.request("GET", "/v1/apps/demo/models/task/missing", t).status_code == 404
    assert server.request("POST", "/v1/apps/demo/models/task/a", t, {}).status_code == 405
    assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "a"}).status_code == 409
    # Nothing above hurt the server or the data.
    doc = server.request("GET", "/v1/apps/demo/models/task/a", t).json()
    assert doc["n"] == 1 and doc["version"] == 1
    assert requests.get(server.url + "/healthz").json()["status"] == "ok"


def test_garbage_websocket_frames_get_errors_and_others_are_served(server, ws_clients):
    t = server.token("u1", "good")
    good = ws_clients(server.ws_url)
    good.register(t)
    good.subscribe(model="task")
    bad = ws_clients(server.ws_url)
    bad.send_raw("{not json")
    err = bad.recv_event("error")["data"]
    assert err["code"] == "invalid_json" and "offset" in err["message"]
    bad.send_raw(json.dumps({"no": "event"}))
    assert bad.recv_event("error")["data"]["code"] == "invalid_input"
    bad.send_raw(json.dumps({"event": "dance", "data": {}}))
    assert "dance" in bad.recv_event("error")["data"]["message"]
    bad.send_raw(b"\x00\x01binary")
    assert bad.recv_event("error")["data"]["code"] == "invalid_frame"
    bad.register(t.replace("e", "f", 3))
    assert bad.closed_code() in (4001,)
    bad2 = ws_clients(server.ws_url)
    bad2.register(server.token("u2", "bad2"))
    bad2.send("subscribe", {"model": "task", "filter": {"x": {"$nope": 1}}})
    assert "$nope" in bad2.recv_event("error")["data"]["message"]

    async def invalid_utf8():
        async with websockets.connect(server.ws_url) as ws:
            # A text frame that is not UTF-8: the protocol says close with 1007.
            await ws.write_frame(True, websockets.frames.Opcode.TEXT, b"\xff\xfe\xfd")
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as e:
                return e.code
    assert asyncio.run(invalid_utf8()) == 1007
    server.request("POST", "/v1/apps/demo/models/task", t, {"id": "still-ok"})
    assert good.deliveries(1)[0]["data"]["id"] == "still-ok"


def writer_dead(server):
    return requests.get(server.url + "/healthz").json()["queue"]["queues"]["writer"]["dead"]


def dead_letter_a_patch(server, t, doc_id):
    """Creates a document and, while the create may still be queued, sends a patch whose test
    fails. When the create is still queued the API cannot check the patch and only the writer finds
    it fails (the case wanted); when the writer was faster the API refuses it itself. Retried with
    new documents until the writer was the one (the answer is 422 either way)."""
    for attempt in range(50):
        before = writer_dead(server)
        server.request("POST", "/v1/apps/demo/models/task", t, {"id": f"{doc_id}-{attempt}", "n": 1})
        r = server.request("PATCH", f"/v1/apps/demo/models/task/{doc_id}-{attempt}?wait=1", t,
                           [{"op": "test", "path": "/n", "value": 2}, {"op": "add", "path": "/ok", "value": True}])
        assert r.status_code == 422 and "operation 0" in r.json()["message"], r.text
        # A deployment whose API always leaves the check to the writer (distributed) waits longer:
        # there the dead letter is certain, only its moment depends on the machine's load.
        deadline = time.time() + getattr(server, "dead_letter_wait", 5)
        while writer_dead(server) == before and time.time() < deadline:
            time.sleep(0.05)
        if writer_dead(server) == before + 1:
            return f"{doc_id}-{attempt}"
    raise AssertionError("the writer never met the failing patch")


def test_a_change_that_fails_in_the_writer_is_dead_lettered_and_the_queue_moves_on(server, ws_clients):
    t = server.token()
    failed = dead_letter_a_patch(server, t, "p")
    assert server.request("PATCH", f"/v1/apps/demo/models/task/{failed}?wait=1", t, [{"op": "incr", "path": ["n"]}]).status_code == 200
    assert server.request("GET", f"/v1/apps/demo/models/task/{failed}", t).json()["n"] == 2


def test_dead_letters_can_be_listed_and_replayed_from_the_cli(server):
    t = server.token()
    failed = dead_letter_a_patch(server, t, "q")
    listed = subprocess.run([str(SLUICE), "dlq", "list", "--data", str(server.data_dir)], capture_output=True, text=True, check=True)
    (line,) = [json.loads(l) for l in listed.stdout.splitlines()]
    assert line["stage"] == "writer" and "operation 0" in line["reason"] and '"patch"' in line["body"]
    assert line["key"] == f"demo/task/{failed}" and line["op"]
    # Replayed with nothing else changed, it meets the same document: it fails again, dead again.
    replayed = subprocess.run([str(SLUICE), "dlq", "replay", "--stage", "writer", "--id", str(line["id"]), "--data", str(server.data_dir)],
                              capture_output=True, text=True)
    assert replayed.returncode == 0 and replayed.stdout.startswith("1 "), replayed.stderr
    deadline = time.time() + 10
    while True:
        again = subprocess.run([str(SLUICE), "dlq", "list", "--stage", "writer", "--data", str(server.data_dir)],
                               capture_output=True, text=True, check=True).stdout.splitlines()
        if again and json.loads(again[0])["at"] > line["at"]:
            break
        assert time.time() < deadline, "replayed change did not come back to the dead letters"
        time.sleep(0.1)
    # A newer change to the document: replaying the older patch now would apply it out of order.
    assert server.request("PATCH", f"/v1/apps/demo/models/task/{failed}?wait=1", t,
                          [{"op": "replace", "path": "/n", "value": 2}]).status_code == 200
    refused = subprocess.run([str(SLUICE), "dlq", "replay", "--stage", "writer", "--data", str(server.data_dir)],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stdout.startswith("0 ") and "newer" in refused.stderr
    time.sleep(1.5)  # a running server takes replays each second: this one must stay dead
    assert writer_dead(server) == 1
    assert server.request("GET", f"/v1/apps/demo/models/task/{failed}", t).json().get("ok") is None
    assert subprocess.run([str(SLUICE), "dlq", "replay", "--data", str(server.data_dir)], capture_output=True).returncode == 2
    assert subprocess.run([str(SLUICE), "dlq", "list", "--stage", "nope", "--data", str(server.data_dir)], capture_output=True).returncode == 2
