"""Subscriptions as DESIGN.md §3 and §7 describe them: a filtered subscription is a channel of its
own (the pattern plus `:filter:` and the first 16 hex digits of the SHA-256 of the filter's
canonical JSON), one device holds many side by side, subscribing twice is idempotent, unsubscribe
removes exactly one, a change reaches a device once per kind of event naming every channel it
matched, subscriptions per device are bounded, and they survive a restart."""
import hashlib
import json
from urllib.parse import quote


def channel_name(pattern, flt=None):
    """The channel a subscription on `pattern` with filter `flt` must get, computed independently."""
    if flt is None:
        return pattern
    canonical = json.dumps(flt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{pattern}:filter:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


TASK = "app:demo:model:task"
OPEN = {"status": "open"}
MINE = {"assignee": "me"}


def device(server, ws_clients, name, user="reader"):
    c = ws_clients(server.ws_url)
    assert c.register(server.token(user, name))["data"]["success"] is True
    return c


def marker(c, model="marker"):
    """Subscribes to an unused model and returns once answered: every frame the server sent
    before the answer has been read by then (they share one ordered socket)."""
    c.send("subscribe", {"model": model})
    before = []
    while True:
        msg = c.recv()
        if msg["event"] == "subscribed":
            return before
        before.append(msg)


def write(server, token, method, path, body=None):
    r = server.request(method, "/v1/apps/demo/models/" + path + ("?wait=1" if method == "POST" else ""), token, body)
    assert r.status_code in (200, 201, 202), r.text
    return r


def test_channel_name_is_the_pattern_plus_the_sha256_of_the_canonical_filter(server, ws_clients):
    c = device(server, ws_clients, "names")
    flt = {"status": {"$in": ["open", "review"]}, "assignee": "me", "meta": {"z": 1, "a": [3, 1, 2]}, "label": "café"}
    reordered = {"meta": {"a": [3, 1, 2], "z": 1}, "label": "café", "assignee": "me", "status": {"$in": ["open", "review"]}}
    cases = [
        ({"model": "task"}, TASK),
        ({"model": "task", "id": "t:1"}, "app:demo:model:task:id:t%3A1"),
        ({"model": "task", "user": "bob"}, "app:demo:user:bob:model:task"),
        ({"model": "task", "user": "bob", "id": "t:1"}, "app:demo:user:bob:model:task:id:t%3A1"),
    ]
    t = server.token("reader", "names")
    for sub, pattern in cases:
        assert c.subscribe(**sub)["data"]["channel"] == pattern
        name = c.subscribe(**sub, filter=flt)["data"]["channel"]
        assert name == channel_name(pattern, flt)
        assert len(name.rsplit(":", 1)[1]) == 16
        # Same filter, keys in another order, over HTTP: the same channel.
        r = server.request("POST", "/v1/apps/demo/subscriptions", t, {**sub, "filter": reordered})
        assert r.status_code == 200 and r.json()["channel"] == name
    # An array's order matters.
    other = c.subscribe(model="task", filter={"status": {"$in": ["review", "open"]}})["data"]["channel"]
    assert other == channel_name(TASK, {"status": {"$in": ["review", "open"]}})
    assert other != channel_name(TASK, {"status": {"$in": ["open", "review"]}})


def test_two_filtered_subscriptions_side_by_side_on_one_model(server, ws_clients):
    t = server.token("writer", "w")
    write(server, t, "POST", "task", {"id": "seed-open", "status": "open", "assignee": "bob"})
    write(server, t, "POST", "task", {"id": "seed-mine", "status": "done", "assignee": "me"})
    c = device(server, ws_clients, "two-views")
    got_open = c.subscribe(model="task", filter=OPEN)["data"]
    got_mine = c.subscribe(model="task", filter=MINE)["data"]
    assert got_open["channel"] == channel_name(TASK, OPEN) and got_mine["channel"] == channel_name(TASK, MINE)
    assert [d["id"] for d in got_open["items"]] == ["seed-open"]  # each snapshot is its own view
    assert [d["id"] for d in got_mine["items"]] == ["seed-mine"]
    write(server, t, "POST", "task", {"id": "neither", "status": "done", "assignee": "bob"})
    write(server, t, "POST", "task", {"id": "a", "status": "open", "assignee": "bob"})
    write(server, t, "POST", "task", {"id": "b", "status": "done", "assignee": "me"})
    a, b = c.deliveries(2)
    assert a["event"] == "model_created" and a["data"]["id"] == "a"
    assert a["data"]["metadata"]["channels"] == [got_open["channel"]]
    assert b["event"] == "model_created" and b["data"]["id"] == "b"
    assert b["data"]["metadata"]["channels"] == [got_mine["channel"]]
    assert [a["seq"], b["seq"]] == [1, 2]


def test_subscribing_twice_is_idempotent(server, ws_clients):
    t = server.token("writer", "w")
    c = device(server, ws_clients, "twice")
    flt = {"status": "open", "n": {"$gte": 1}}
    first = c.subscribe(model="task", filter=flt)["data"]["channel"]
    second = c.subscribe(model="task", filter={"n": {"$gte": 1}, "status": "open"})["data"]["channel"]
    r = server.request("POST", "/v1/apps/demo/subscriptions", server.token("reader", "twice"), {"model": "task", "filter": flt})
    assert first == second == r.json()["channel"] == channel_name(TASK, flt)
    assert c.subscribe(model="task")["data"]["channel"] == c.subscribe(model="task")["data"]["channel"] == TASK
    write(server, t, "POST", "task", {"id": "x", "status": "open", "n": 1})
    write(server, t, "POST", "task", {"id": "y", "status": "open", "n": 2})
    x, y = c.deliveries(2)
    assert x["data"]["id"] == "x" and y["data"]["id"] == "y" and [x["seq"], y["seq"]] == [1, 2]
    assert sorted(x["data"]["metadata"]["channels"]) == sorted([first, TASK])  # each channel once
    assert marker(c) == []  # and nothing else (no second copy of either)


def test_unsubscribe_removes_exactly_one(server, ws_clients):
    t = server.token("writer", "w")
    reader = server.token("reader", "unsub")
    c = device(server, ws_clients, "unsub")
    open_ch = c.subscribe(model="task", filter=OPEN)["data"]["channel"]
    mine_ch = c.subscribe(model="task", filter=MINE)["data"]["channel"]
    c.send("unsubscribe", {"channel": open_ch})
    assert c.recv_event("unsubscribed")["data"] == {"channel": open_ch, "removed": True}
    c.send("unsubscribe", {"channel": open_ch})
    assert c.recv_event("unsubscribed")["data"] == {"channel": open_ch, "removed": False}
    write(server, t, "POST", "task", {"id": "both", "status": "open", "assignee": "me"})
    (m,) = c.deliveries(1)
    assert m["data"]["id"] == "both" and m["data"]["metadata"]["channels"] == [mine_ch]
    # Over HTTP, URL-encoded or not.
    assert server.request("DELETE", "/v1/apps/demo/subscriptions/" + quote(mine_ch, safe=""), reader).status_code == 200
    assert server.request("DELETE", "/v1/apps/demo/subscriptions/" + mine_ch, reader).status_code == 404
    write(server, t, "POST", "task", {"id": "both-2", "status": "open", "assignee": "me"})
    assert marker(c) == []
    # A malformed filter suffix is an invalid_input error that names it.
    bad = TASK + ":filter:NOT-HEX"
    r = server.request("DELETE", "/v1/apps/demo/subscriptions/" + bad, reader)
    assert r.status_code == 400 and r.json()["error"] == "invalid_channel" and "filter id 'NOT-HEX'" in r.json()["message"]
    c.send("unsubscribe", {"channel": TASK + ":filter:0123"})
    err = c.recv_event("error")["data"]
    assert err["code"] == "invalid_channel" and "16 lower-case hex digits" in err["message"]


def test_a_change_matching_several_subscriptions_reaches_the_device_once(server, ws_clients):
    t = server.token("writer", "w")
    c = device(server, ws_clients, "several")
    names = [c.subscribe(model="task", filter=OPEN)["data"]["channel"],
             c.subscribe(model="task", filter=MINE)["data"]["channel"],
             c.subscribe(model="task", filter={"status": "done"})["data"]["channel"],  # does not match
             c.subscribe(model="task")["data"]["channel"],
             c.subscribe(model="task", id="t1", filter=OPEN)["data"]["channel"]]
    assert len(set(names)) == 5
    other = device(server, ws_clients, "other")
    other_ch = other.subscribe(model="task", filter=OPEN)["data"]["channel"]
    write(server, t, "POST", "task", {"id": "t1", "status": "open", "assignee": "me"})
    (m,) = c.deliveries(1)
    assert m["event"] == "model_created" and m["seq"] == 1
    assert sorted(m["data"]["metadata"]["channels"]) == sorted([names[0], names[1], names[3], names[4]])
    assert marker(c) == []
    (o,) = other.deliveries(1)
    assert o["data"]["id"] == "t1" and o["data"]["metadata"]["channels"] == [other_ch]


def test_leaving_one_view_and_staying_in_another(server, ws_clients):
    t = server.token("writer", "w")
    write(server, t, "POST", "task", {"id": "t1", "status": "open", "assignee": "me"})
    c = device(server, ws_clients, "views")
    open_ch = c.subscribe(model="task", filter=OPEN)["data"]["channel"]
    mine_ch = c.subscribe(model="task", filter=MINE)["data"]["channel"]
    closed_ch = c.subscribe(model="task", filter={"status": "closed"})["data"]["channel"]
    write(server, t, "PATCH", "task/t1", [{"op": "replace", "path": "/status", "value": "closed"}])
    frames = c.deliveries(3)
    assert sorted(f["seq"] for f in frames) == [1, 2, 3]
    by_event = {f["event"]: f for f in frames}
    assert set(by_event) == {"model_left", "model_updated", "model_entered"}
    assert by_event["model_left"]["data"]["metadata"]["channels"] == [open_ch]
    assert by_event["model_left"]["data"]["id"] == "t1" and by_event["model_left"]["data"]["version"] == 2
    assert by_event["model_updated"]["data"][0]["metadata"]["channels"] == [mine_ch]
    assert by_event["model_updated"]["data"][0]["value"] == "closed"
    assert by_event["model_updated"]["data"][0]["metadata"]["version"] == 2
    assert by_event["model_entered"]["data"]["metadata"]["channels"] == [closed_ch]
    assert marker(c) == []


def test_subscriptions_per_device_are_bounded_over_http_and_websocket(make_server, ws_clients):
    server = make_server("[limits]\nsubscriptions_per_device = 3\n").start()
    t = server.token("reader", "bounded")

    def sub(body):
        return server.request("POST", "/v1/apps/demo/subscriptions", t, body)

    names = [sub({"model": "task", "filter": {"n": i}}).json()["channel"] for i in range(2)]
    names.append(sub({"model": "task"}).json()["channel"])
    r = sub({"model": "task", "filter": {"n": 99}})
    assert r.status_code == 409
    body = r.json()
    assert body["error"] == "too_many_subscriptions" and "3" in body["message"], body
    # Subscribing again to a channel the device has is fine at the limit.
    assert sub({"model": "task", "filter": {"n": 1}}).json()["channel"] == names[1]
    assert sub({"model": "task"}).status_code == 200
    # Over WebSocket, the same device gets an error event.
    c = ws_clients(server.ws_url)
    c.register(t)
    c.send("subscribe", {"model": "task", "filter": {"n": 99}})
    err = c.recv_event("error")["data"]
    assert err["code"] == "too_many_subscriptions" and err["message"]
    assert c.subscribe(model="task", filter={"n": 0})["data"]["channel"] == names[0]
    # The refused subscription does not exist (the change comes through the unfiltered one only);
    # another device has its own budget.
    w = server.token("writer", "w")
    write(server, w, "POST", "task", {"id": "ninety-nine", "n": 99})
    (m,) = c.deliveries(1)
    assert m["data"]["id"] == "ninety-nine" and m["data"]["metadata"]["channels"] == [TASK]
    assert server.request("POST", "/v1/apps/demo/subscriptions", server.token("reader", "another"),
                          {"model": "task", "filter": {"n": 99}}).status_code == 200
    # Room again after an unsubscribe.
    c.send("unsubscribe", {"channel": names[0]})
    assert c.recv_event("unsubscribed")["data"]["removed"] is True
    assert c.subscribe(model="task", filter={"n": 99})["data"]["channel"] == channel_name(TASK, {"n": 99})


def test_a_restart_keeps_the_subscriptions(make_server, ws_clients):
    server = make_server().start()
    t = server.token("writer", "w")
    reader = server.token("reader", "keeper")
    c = ws_clients(server.ws_url)
    c.register(reader)
    open_ch = c.subscribe(model="task", filter=OPEN)["data"]["channel"]
    mine_ch = c.subscribe(model="task", filter=MINE)["data"]["channel"]
    gone_ch = c.subscribe(model="task", filter={"status": "gone"})["data"]["channel"]
    c.send("unsubscribe", {"channel": gone_ch})
    assert c.recv_event("unsubscribed")["data"]["removed"] is True
    c.close()
    assert server.terminate() == 0
    server.start()
    write(server, t, "POST", "task", {"id": "both", "status": "open", "assignee": "me"})
    write(server, t, "POST", "task", {"id": "gone", "status": "gone"})
    c2 = ws_clients(server.ws_url)
    assert c2.register(reader, resume_from=0)["data"]["success"] is True
    (m,) = c2.deliveries(1)
    assert m["data"]["id"] == "both" and sorted(m["data"]["metadata"]["channels"]) == sorted([open_ch, mine_ch])
    assert marker(c2) == []
    # Still idempotent and still removable one by one after the restart.
    assert c2.subscribe(model="task", filter=OPEN)["data"]["channel"] == open_ch
    c2.send("unsubscribe", {"channel": mine_ch})
    assert c2.recv_event("unsubscribed")["data"]["removed"] is True
    write(server, t, "PATCH", "task/both", [{"op": "add", "path": "/n", "value": 1}])
    (u,) = c2.deliveries(1)
    assert u["event"] == "model_updated" and u["data"][0]["metadata"]["channels"] == [open_ch]
    assert marker(c2, "marker-2") == []
