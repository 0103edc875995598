"""Changes reach the right devices, in order, with the right events (DESIGN.md §3, §6, §7)."""
import asyncio
import concurrent.futures

from conftest import _run


def test_create_update_delete_reach_all_four_channel_patterns(server, ws_clients):
    owner = server.token("u1", "owner-dev")
    subs = {
        "model": {"model": "task"},
        "doc": {"model": "task", "id": "t:1"},
        "user": {"model": "task", "user": "u1"},
        "user_doc": {"model": "task", "user": "u1", "id": "t:1"},
    }
    clients = {}
    for name, sub in subs.items():
        c = ws_clients(server.ws_url)
        assert c.register(server.token("reader", f"dev-{name}"))["data"]["success"] is True
        got = c.subscribe(**sub)["data"]
        assert got["items"] == []
        clients[name] = (c, got["channel"])
    assert clients["doc"][1] == "app:demo:model:task:id:t%3A1"  # ':' in ids is escaped
    assert server.request("POST", "/v1/apps/demo/models/task", owner, {"id": "t:1", "title": "a"}).status_code == 202
    assert server.request("PATCH", "/v1/apps/demo/models/task/t:1", owner,
                          [{"op": "replace", "path": "/title", "value": "b"}]).status_code == 202
    assert server.request("DELETE", "/v1/apps/demo/models/task/t:1", owner).status_code == 202
    for name, (c, channel) in clients.items():
        created, updated, deleted = c.deliveries(3)
        assert [m["event"] for m in (created, updated, deleted)] == ["model_created", "model_updated", "model_deleted"], name
        assert [m["seq"] for m in (created, updated, deleted)] == [1, 2, 3]
        assert created["data"]["title"] == "a" and created["data"]["owner"] == "u1" and created["data"]["version"] == 1
        assert created["data"]["metadata"]["channels"] == [channel]
        op = updated["data"][0]
        assert op["op"] == "replace" and op["path"] == "/title" and op["value"] == "b"
        assert op["metadata"]["channels"] == [channel] and op["metadata"]["version"] == 2 and op["metadata"]["id"] == "t:1"
        assert deleted["data"]["id"] == "t:1" and deleted["data"]["owner"] == "u1"
        assert deleted["data"]["metadata"]["channels"] == [channel]


def test_user_channels_follow_the_owner_not_the_actor(server, ws_clients):
    c = ws_clients(server.ws_url)
    c.register(server.token("watcher", "w"))
    c.subscribe(model="note", user="owner-1")
    owner, other = server.token("owner-1", "d1"), server.token("someone-else", "d2")
    server.request("POST", "/v1/apps/demo/models/note?wait=1", owner, {"id": "n1", "v": 0})
    server.request("PATCH", "/v1/apps/demo/models/note/n1", other, [{"op": "replace", "path": "/v", "value": 1}])
    created, updated = c.deliveries(2)
    assert created["event"] == "model_created" and updated["event"] == "model_updated"
    assert updated["data"][0]["metadata"]["channels"] == ["app:demo:user:owner-1:model:note"]


def test_filtered_subscription_gets_enter_leave_and_delete(server, ws_clients):
    t = server.token("u1", "writer")
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "existing", "status": "open"})
    c = ws_clients(server.ws_url)
    c.register(server.token("u2", "filtered"))
    snapshot = c.subscribe(model="task", filter={"status": {"$eq": "open"}})["data"]
    assert [d["id"] for d in snapshot["items"]] == ["existing"]
    server.request("POST", "/v1/apps/demo/models/task", t, {"id": "x", "status": "draft"})      # not delivered
    server.request("PATCH", "/v1/apps/demo/models/task/x", t, [{"op": "replace", "path": "/status", "value": "open"}])
    server.request("PATCH", "/v1/apps/demo/models/task/x", t, [{"op": "add", "path": "/n", "value": 1}])
    server.request("PATCH", "/v1/apps/demo/models/task/x", t, [{"op": "replace", "path": "/status", "value": "done"}])
    server.request("PATCH", "/v1/apps/demo/models/task/x", t, [{"op": "replace", "path": "/status", "value": "open"}])
    server.request("DELETE", "/v1/apps/demo/models/task/x", t)
    msgs = c.deliveries(5)
    assert [m["event"] for m in msgs] == ["model_entered", "model_updated", "model_left", "model_entered", "model_deleted"]
    assert msgs[0]["data"]["status"] == "open" and msgs[0]["data"]["id"] == "x"
    assert msgs[2]["data"]["id"] == "x"
    assert [m["seq"] for m in msgs] == [1, 2, 3, 4, 5]


def test_seed_alias_filter_and_unsubscribe(server, ws_clients):
    t = server.token("u1", "writer")
    c = ws_clients(server.ws_url)
    c.register(server.token("u2", "seedy"))
    channel = c.subscribe(model="task", filter={"priority": {"in": ["high"]}})["data"]["channel"]
    server.request("POST", "/v1/apps/demo/models/task", t, {"id": "a", "priority": "low"})
    server.request("POST", "/v1/apps/demo/models/task", t, {"id": "b", "priority": "high"})
    (msg,) = c.deliveries(1)
    assert msg["data"]["id"] == "b"
    c.send("unsubscribe", {"channel": channel})
    assert c.recv_event("unsubscribed")["data"]["removed"] is True
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "c", "priority": "high"})
    c.send("subscribe", {"model": "other"})  # a marker: nothing from task may arrive before it
    assert c.recv()["event"] == "subscribed"


def test_thousand_rapid_patches_arrive_in_order_and_apply_once(server, ws_clients):
    t = server.token("u1", "writer")
    server.request("POST", "/v1/apps/demo/models/counter?wait=1", t, {"id": "c", "n": 0, "log": []})
    c = ws_clients(server.ws_url)
    c.register(server.token("u2", "counter-watch"))
    c.subscribe(model="counter", id="c")
    for i in range(1000):
        r = server.request("PATCH", "/v1/apps/demo/models/counter/c", t, [{"op": "incr", "path": ["n"], "value": [1]},
                                                                          {"op": "append", "path": ["log"], "value": [i]}])
        assert r.status_code == 202, r.text
    msgs = c.deliveries(1000, timeout=120)
    assert [m["seq"] for m in msgs] == list(range(1, 1001))
    assert [m["data"][1]["value"] for m in msgs] == list(range(1000))  # the append of each patch, in order
    assert [m["data"][0]["metadata"]["version"] for m in msgs] == list(range(2, 1002))
    doc = server.request("GET", "/v1/apps/demo/models/counter/c", t).json()
    assert doc["n"] == 1000 and doc["log"] == list(range(1000)) and doc["version"] == 1001


def test_frames_of_every_length_reach_a_websocket_whole(server, ws_clients):
    """Frame lengths in each of RFC 6455's three encodings (7-bit, 16-bit, 64-bit), back to back in
    one burst, and control frames (a ping answered) in between: the client's framing checks pass
    and every payload is whole."""
    t = server.token("u1", "writer")
    c = ws_clients(server.ws_url)
    c.register(server.token("u2", "frames-watch"))
    c.subscribe(model="blob")
    sizes = [0, 20, 200, 70_000, 125, 126, 65_000, 300_000, 5]
    for i, size in enumerate(sizes):
        r = server.request("POST", "/v1/apps/demo/models/blob", t, {"id": f"b{i}", "text": "x" * size})
        assert r.status_code == 202, r.text
        if i == 4:
            _ping(c)  # answered (Beast's pong passes through the same stream), or this times out
    msgs = c.deliveries(len(sizes), timeout=60)
    assert [m["data"]["id"] for m in msgs] == [f"b{i}" for i in range(len(sizes))]
    assert [len(m["data"]["text"]) for m in msgs] == sizes
    # Deletes are short frames: 7-bit lengths.
    assert server.request("DELETE", "/v1/apps/demo/models/blob/b0", t).status_code == 202
    assert c.deliveries(1)[0]["event"] == "model_deleted"


def _ping(client):
    waiter = _run(client.ws.ping())
    _run(asyncio.wait_for(waiter, 10), 15)


def test_concurrent_writers_lose_nothing(server, ws_clients):
    c = ws_clients(server.ws_url)
    c.register(server.token("watch", "all"))
    c.subscribe(model="item")
    tokens = [server.token(f"w{i}", f"wd{i}") for i in range(4)]

    def write(k):
        ids = []
        for j in range(100):
            r = server.request("POST", "/v1/apps/demo/models/item", tokens[k], {"k": k, "j": j})
            assert r.status_code == 202
            ids.append(r.json()["id"])
        return ids

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        accepted = [i for ids in pool.map(write, range(4)) for i in ids]
    msgs = c.deliveries(400, timeout=60)
    assert sorted(m["data"]["id"] for m in msgs) == sorted(accepted)
    assert [m["seq"] for m in msgs] == list(range(1, 401))


def test_resume_within_backlog_and_resync_beyond_it(make_server, ws_clients):
    server = make_server(env={"SLUICE_LIMITS_RESUME_BACKLOG": "5"}).start()
    t = server.token("u1", "writer")
    c = ws_clients(server.ws_url)
    c.register(server.token("u2", "phone"))
    c.subscribe(model="task")
    server.request("POST", "/v1/apps/demo/models/task", t, {"id": "1"})
    (first,) = c.deliveries(1)
    c.close()
    for i in range(2, 5):
        server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": str(i)})
    c2 = ws_clients(server.ws_url)
    reg = c2.register(server.token("u2", "phone"), resume_from=first["seq"])
    assert reg["data"]["seq"] >= 3
    missed = c2.deliveries(3)
    assert [m["data"]["id"] for m in missed] == ["2", "3", "4"]
    assert [m["seq"] for m in missed] == [2, 3, 4]
    c2.close()
    for i in range(5, 15):
        server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": str(i)})
    c3 = ws_clients(server.ws_url)
    c3.register(server.token("u2", "phone"), resume_from=4)
    assert c3.recv_event("resync_required")["event"] == "resync_required"


def test_token_in_the_url_registers_at_connect(server, ws_clients):
    c = ws_clients(server.ws_url + "?token=" + server.token("u1", "seed-dev"))
    reg = c.recv_event("register")
    assert reg["data"] == {"success": True, "device": "seed-dev", "seq": 0}
    assert c.subscribe(model="task")["data"]["channel"] == "app:demo:model:task"


def test_http_subscription_snapshot_and_removal(server, ws_clients):
    t = server.token("u1", "dev")
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "a", "p": 1})
    server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "b", "p": 5})
    r = server.request("POST", "/v1/apps/demo/subscriptions", t, {"model": "task", "filter": {"p": {"$gt": 2}}})
    assert r.status_code == 200
    # A filtered subscription is a channel of its own (test_subscriptions.py checks the name).
    channel = r.json()["channel"]
    assert channel.startswith("app:demo:model:task:filter:") and [d["id"] for d in r.json()["items"]] == ["b"]
    c = ws_clients(server.ws_url)
    c.register(t)  # the subscription belongs to the device, whatever socket it uses
    server.request("POST", "/v1/apps/demo/models/task", t, {"id": "c", "p": 9})
    assert c.deliveries(1)[0]["data"]["id"] == "c"
    assert server.request("DELETE", "/v1/apps/demo/subscriptions/" + channel, t).status_code == 200
    assert server.request("DELETE", "/v1/apps/demo/subscriptions/" + channel, t).status_code == 404
    # Channels with escapes may be sent URL-encoded or as they are.
    for path in ("app:demo:model:task:id:x%3Ay", "app%3Ademo%3Amodel%3Atask%3Aid%3Ax%253Ay"):
        assert server.request("POST", "/v1/apps/demo/subscriptions", t, {"model": "task", "id": "x:y"}).json()["channel"] == "app:demo:model:task:id:x%3Ay"
        r = server.request("DELETE", "/v1/apps/demo/subscriptions/" + path, t)
        assert r.status_code == 200 and r.json()["channel"] == "app:demo:model:task:id:x%3Ay", r.text
    assert server.request("DELETE", "/v1/apps/demo/subscriptions/not-a-channel", t).status_code == 400
