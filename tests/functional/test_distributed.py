"""The distributed shape (DESIGN.md §10): every stage its own process on RabbitMQ, PostgreSQL and
Redis. The embedded suite's user-level tests run unchanged against a deployment of two API
processes, two writers, two transport managers and two websocket instances (clients go round
them); then the faults only this shape has."""
import json
import threading
import time

import pytest
import requests

from distributed import Backends, Deployment

# The embedded suite's tests, run here against the `server` fixture below.
from test_delivery import (  # noqa: F401
    test_concurrent_writers_lose_nothing,
    test_create_update_delete_reach_all_four_channel_patterns,
    test_filtered_subscription_gets_enter_leave_and_delete,
    test_http_subscription_snapshot_and_removal,
    test_seed_alias_filter_and_unsubscribe,
    test_thousand_rapid_patches_arrive_in_order_and_apply_once,
    test_token_in_the_url_registers_at_connect,
    test_user_channels_follow_the_owner_not_the_actor,
)
from test_subscriptions import (  # noqa: F401
    test_a_change_matching_several_subscriptions_reaches_the_device_once,
    test_channel_name_is_the_pattern_plus_the_sha256_of_the_canonical_filter,
    test_leaving_one_view_and_staying_in_another,
    test_subscribing_twice_is_idempotent,
    test_two_filtered_subscriptions_side_by_side_on_one_model,
    test_unsubscribe_removes_exactly_one,
)


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    b = Backends(tmp_path_factory.mktemp("backends"))
    try:
        b.start()
    except BaseException:
        b.stop()
        raise
    yield b
    b.stop()


@pytest.fixture
def server(backends, tmp_path):
    """Overrides conftest's one-process server for the tests imported above."""
    d = Deployment(tmp_path / "deployment", backends).start()
    yield d
    d.stop()


def test_a_device_moves_to_another_instance_and_resumes_without_a_gap(server, ws_clients):
    t = server.token()
    first, second = server.sockets[0].port, server.sockets[1].port
    a = ws_clients(f"ws://127.0.0.1:{first}/v1/ws")
    a.register(t)
    a.subscribe(model="note")
    writer = server.token("writer", "w")
    for i in range(3):
        assert server.request("POST", "/v1/apps/demo/models/note", writer, {"id": f"n{i}"}).status_code == 202
    got = a.deliveries(3)
    a.close()
    for i in range(3, 6):  # while the device is away
        assert server.request("POST", "/v1/apps/demo/models/note", writer, {"id": f"n{i}"}).status_code == 202
    b = ws_clients(f"ws://127.0.0.1:{second}/v1/ws")
    reg = b.register(t, resume_from=got[-1]["seq"])
    assert reg["data"]["success"] is True
    missed = b.deliveries(3)
    assert [m["data"]["id"] for m in missed] == ["n3", "n4", "n5"]
    assert [m["seq"] for m in got + missed] == list(range(1, 7))
    assert server.request("PATCH", "/v1/apps/demo/models/note/n0", writer, [{"op": "add", "path": "/x", "value": 1}]).status_code == 202
    live = b.deliveries(1)[0]
    assert live["event"] == "model_updated" and live["seq"] == 7


class Load:
    """Writes continuously through both API processes (a refused or broken request is retried on
    the other one with the same document), remembering what got a 202."""

    def __init__(self, server, token, model):
        self.server, self.token, self.model = server, token, model
        self.accepted, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        apis = [f"http://127.0.0.1:{p.port}" for p in self.server.apis]
        i = 0
        while not self.stop.is_set():
            doc = f"d{i}"
            for attempt in range(40):
                url = apis[(i + attempt) % len(apis)]
                try:
                    r = requests.post(f"{url}/v1/apps/demo/models/{self.model}", json={"id": doc, "n": i},
                                      headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
                except requests.RequestException:
                    continue
                if r.status_code == 202:
                    self.accepted.append(doc)
                    break
                if r.status_code == 409:  # a retry of one that was accepted after all
                    break
                time.sleep(0.05)
            i += 1
            time.sleep(0.005)


def collect(client, token, seen, seqs, want, timeout=60):
    """Reads frames (reconnecting to any instance with resume_from when the socket breaks) until
    every document in `want` was created; returns the client in use."""
    deadline = time.time() + timeout
    while not want <= seen and time.time() < deadline:
        try:
            msg = client.recv(timeout=max(0.1, min(2, deadline - time.time())))
        except Exception as e:  # closed by a killed instance, or a quiet moment
            if "timed out" in repr(e).lower() or isinstance(e, TimeoutError):
                continue
            client = client.reconnect(resume_from=seqs[-1] if seqs else 0)
            continue
        if "seq" in msg:
            seqs.append(msg["seq"])
            if msg["event"] == "model_created":
                key = (msg["op"], msg["event"])
                assert key not in seen.pairs, f"{key} delivered twice"
                seen.pairs.add(key)
                seen.add(msg["data"]["id"])
    return client


class Seen(set):
    def __init__(self):
        super().__init__()
        self.pairs = set()


@pytest.mark.parametrize("victim", ["api0", "writer0", "tm0", "ws0"])
def test_kill_9_of_one_process_loses_nothing(server, ws_clients, victim):
    model = "load"
    watcher = server.token("watcher", "watcher-device")
    urls = [f"ws://127.0.0.1:{p.port}/v1/ws" for p in server.sockets]

    class Client:
        def __init__(self, index, resume_from=None):
            self.index = index
            self.ws = ws_clients(urls[index])
            reg = self.ws.register(watcher, resume_from=resume_from)
            assert reg["data"]["success"] is True, reg

        def recv(self, timeout):
            return self.ws.recv(timeout)

        def reconnect(self, resume_from):
            deadline = time.time() + 30
            while True:
                try:
                    return Client((self.index + 1) % len(urls), resume_from)
                except Exception:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)

    client = Client(0)  # on ws0, the instance a "ws0" victim kills
    client.ws.subscribe(model=model)
    load = Load(server, server.token("writer", "w"), model)
    load.thread.start()
    seen, seqs = Seen(), []
    client = collect(client, watcher, seen, seqs, {"d20"}, timeout=30)
    assert "d20" in seen, "the load did not get going: " + server.read_log()
    server.processes[victim].kill()
    time.sleep(1.0)  # the load goes on without the victim
    server.processes[victim].start().wait_healthy()
    time.sleep(0.5)
    load.stop.set()
    load.thread.join(30)
    assert len(load.accepted) > 40
    client = collect(client, watcher, seen, seqs, set(load.accepted), timeout=90)
    missing = set(load.accepted) - seen
    assert not missing, f"{len(missing)} accepted changes never delivered, e.g. {sorted(missing)[:5]}"
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "sequence numbers out of order or repeated"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap in the sequence numbers"
    # Effects once: every accepted document stored once with version 1.
    t = server.token("writer", "w")
    items = server.request("POST", f"/v1/apps/demo/models/{model}/query", t, {"limit": 100000}).json()["items"]
    ids = [d["id"] for d in items]
    assert len(ids) == len(set(ids))
    assert set(load.accepted) <= set(ids)
    assert all(d["version"] == 1 for d in items)
