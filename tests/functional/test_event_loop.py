"""The event loop never waits for SQLite: store reads and registry writes run on a small pool, so a
database another process keeps busy delays only the requests that need it."""
import sqlite3
import threading
import time

import requests


def test_a_locked_registry_delays_only_the_requests_that_need_it(server, ws_clients):
    t = server.token("u", "dev-a")
    assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "d1", "n": 1}).status_code == 201
    other = ws_clients(server.ws_url)
    other.register(server.token("u", "dev-b"))
    waiting = ws_clients(server.ws_url)
    waiting.register(t)

    # Another process holds the write lock of registry.db: a subscription waits for it (the
    # registry's busy timeout is 5 s). Store reads (WAL) are not blocked by a writer, which is why
    # the registry is the file locked here.
    db = sqlite3.connect(server.data_dir / "registry.db", isolation_level=None, timeout=0)
    db.execute("BEGIN IMMEDIATE")
    try:
        locked_at = time.time()
        waiting.send("subscribe", {"model": "task"})
        waiting.send("no_such_event")  # answered after the subscription: answers keep the order of messages
        over_http = []
        http_subscriber = threading.Thread(target=lambda: over_http.append(server.request(
            "POST", "/v1/apps/demo/subscriptions", server.token("u", "dev-c"), {"model": "task"})))
        http_subscriber.start()
        time.sleep(0.3)  # both subscriptions are now waiting for the lock

        started = time.time()
        r = server.request("GET", "/v1/apps/demo/models/task/d1", t)
        assert r.status_code == 200 and r.json()["n"] == 1
        assert server.request("POST", "/v1/apps/demo/models/task", t, {"id": "d2"}).status_code == 202
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 200
        other.send("no_such_event")
        assert other.recv_event("error")["data"]["code"] == "unknown_event"
        assert time.time() - started < 1.0, "the event loop waited for the registry"
        assert time.time() - locked_at < 2.0  # all of the above happened while the lock was held
    finally:
        db.execute("ROLLBACK")
        db.close()
    http_subscriber.join(10)
    assert over_http[0].status_code == 200 and over_http[0].json()["channel"] == "app:demo:model:task"

    # Then the subscription is answered (with its snapshot), before any delivery it made possible,
    # and only then the next message of that socket.
    first = waiting.recv(timeout=10)
    assert first["event"] == "subscribed", first
    assert "d1" in [d["id"] for d in first["data"]["items"]]
    rest = [waiting.recv(timeout=10)]
    while rest[-1]["event"] != "error":
        rest.append(waiting.recv(timeout=10))
    assert rest[-1]["data"]["code"] == "unknown_event"
    assert all(m["event"] == "model_created" for m in rest[:-1])
