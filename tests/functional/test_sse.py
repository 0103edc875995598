"""Server-Sent Events: the same deliveries as the WebSocket, one-way (DESIGN.md §7)."""
import json

import requests


def read_events(response, count):
    events, current = [], {}
    for raw in response.iter_lines(chunk_size=1, decode_unicode=True):
        if raw is None:
            continue
        if raw == "":
            if current:
                events.append(current)
                current = {}
                if len(events) == count:
                    return events
            continue
        if raw.startswith(":"):
            continue
        field, _, value = raw.partition(": ")
        current[field] = value
    return events


def test_sse_stream_delivers_and_resumes_with_last_event_id(server):
    t = server.token("alice", "browser")
    assert server.request("POST", "/v1/apps/demo/subscriptions", t, {"model": "task"}).status_code == 200
    r = requests.get(server.url + "/v1/sse", headers={"Authorization": f"Bearer {t}"}, stream=True, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    (hello,) = read_events(r, 1)
    assert hello["event"] == "register" and json.loads(hello["data"])["device"] == "browser"
    server.request("POST", "/v1/apps/demo/models/task", t, {"id": "a", "v": 1})
    server.request("PATCH", "/v1/apps/demo/models/task/a", t, [{"op": "replace", "path": "/v", "value": 2}])
    created, updated = read_events(r, 2)
    assert (created["event"], created["id"]) == ("model_created", "1")
    frame = json.loads(created["data"])
    assert frame["event"] == "model_created" and frame["seq"] == 1 and frame["data"]["id"] == "a"
    assert (updated["event"], updated["id"]) == ("model_updated", "2")
    r.close()
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "b"})
    again = requests.get(f"{server.url}/v1/sse?token={t}", headers={"Last-Event-ID": "2"}, stream=True, timeout=30)
    hello, missed = read_events(again, 2)
    assert missed["id"] == "3" and json.loads(missed["data"])["data"]["id"] == "b"
    again.close()


def test_sse_needs_a_valid_token(server):
    assert requests.get(server.url + "/v1/sse", timeout=10).status_code == 401
    r = requests.get(server.url + "/v1/sse?token=garbage", timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
