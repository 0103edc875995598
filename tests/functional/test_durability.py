"""Accepted means durable: kill -9 and SIGTERM lose nothing (DESIGN.md §6, issue 4)."""
import asyncio
import threading
import time

import requests
import websockets

from conftest import Ws


class Writer(threading.Thread):
    """Creates documents and appends to a counter document until the server goes away; remembers
    what was accepted (202) and what was attempted."""

    def __init__(self, server, token):
        super().__init__(daemon=True)
        self.server, self.token = server, token
        self.accepted_ids, self.accepted_values, self.attempted_values = [], [], []
        self.stop_flag = False

    def run(self):
        http = requests.Session()
        n = 0
        while not self.stop_flag:
            n += 1
            try:
                if n % 2:
                    r = http.post(f"{self.server.url}/v1/apps/demo/models/item", json={"id": f"i-{n}", "n": n},
                                  headers={"Authorization": f"Bearer {self.token}"}, timeout=5)
                    if r.status_code == 202:
                        self.accepted_ids.append(f"i-{n}")
                else:
                    self.attempted_values.append(n)
                    r = http.patch(f"{self.server.url}/v1/apps/demo/models/item/ctr",
                                   json=[{"op": "incr", "path": ["count"]}, {"op": "append", "path": ["log"], "value": [n]}],
                                   headers={"Authorization": f"Bearer {self.token}"}, timeout=5)
                    if r.status_code == 202:
                        self.accepted_values.append(n)
            except requests.RequestException:
                return


def collect_until(client, accepted_ids, accepted_values, seen_ids, seen_values, seqs, timeout=60, pairs=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if set(accepted_ids) <= seen_ids and set(accepted_values) <= seen_values:
            return
        try:
            msg = client.recv(timeout=max(0.1, deadline - time.time()))
        except (asyncio.TimeoutError, TimeoutError, websockets.ConnectionClosed):
            return
        assert msg["event"] != "resync_required", "device had to resync instead of resuming"
        if "seq" not in msg:
            continue
        seqs.append(msg["seq"])
        if pairs is not None:
            pairs.append((msg["op"], msg["event"]))
        if msg["event"] == "model_created":
            seen_ids.add(msg["data"]["id"])
        elif msg["event"] == "model_updated":
            seen_values.update(op["value"] for op in msg["data"] if op["path"] == "/log")


def test_kill_9_while_writing_loses_nothing_accepted(server, ws_clients):
    t = server.token("writer", "w")
    assert server.request("POST", "/v1/apps/demo/models/item?wait=1", t, {"id": "ctr", "count": 0, "log": []}).status_code == 201
    watcher_token = server.token("watcher", "watcher-device")
    c = ws_clients(server.ws_url)
    c.register(watcher_token)
    c.subscribe(model="item")
    writer = Writer(server, t)
    writer.start()
    seen_ids, seen_values, seqs, pairs = set(), set(), [], []
    deadline = time.time() + 1.5
    while time.time() < deadline:
        collect_until(c, ["never"], [], seen_ids, seen_values, seqs, timeout=0.2, pairs=pairs)
    server.kill()
    writer.join(10)
    assert len(writer.accepted_ids) > 20 and len(writer.accepted_values) > 20, "the writer did not get going"
    collect_until(c, ["never"], [], seen_ids, seen_values, seqs, timeout=0.5, pairs=pairs)  # whatever was already sent
    server.start()
    c2 = ws_clients(server.ws_url)
    reg = c2.register(watcher_token, resume_from=seqs[-1] if seqs else 0)
    assert reg["data"]["success"] is True
    collect_until(c2, writer.accepted_ids, writer.accepted_values, seen_ids, seen_values, seqs, pairs=pairs)
    assert set(writer.accepted_ids) <= seen_ids, "accepted creates not delivered"
    assert len(pairs) == len(set(pairs)), "a device got the same (op, event) twice"
    assert set(writer.accepted_values) <= seen_values, "accepted patches not delivered"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "sequence numbers have gaps or repeats"
    # Effects once: every accepted patch applied, none twice.
    doc = server.request("GET", "/v1/apps/demo/models/item/ctr", t).json()
    assert len(doc["log"]) == len(set(doc["log"])), "a patch was applied twice"
    assert set(writer.accepted_values) <= set(doc["log"]) <= set(writer.attempted_values)
    assert doc["count"] == len(doc["log"])
    items = server.request("POST", "/v1/apps/demo/models/item/query", t, {"limit": 10000}).json()["items"]
    assert set(writer.accepted_ids) <= {d["id"] for d in items}


def test_sigterm_drains_and_exits_cleanly(server, ws_clients):
    t = server.token("writer", "w")
    server.request("POST", "/v1/apps/demo/models/item?wait=1", t, {"id": "ctr", "count": 0, "log": []})
    c = ws_clients(server.ws_url)
    c.register(server.token("watcher", "wd"))
    c.subscribe(model="item")
    writer = Writer(server, t)
    writer.start()
    time.sleep(1.0)
    assert server.terminate(timeout=20) == 0
    writer.stop_flag = True
    writer.join(10)
    assert c.closed_code(timeout=10) == 1001
    server.start()
    items = server.request("POST", "/v1/apps/demo/models/item/query", t, {"limit": 10000}).json()["items"]
    assert set(writer.accepted_ids) <= {d["id"] for d in items}
    deadline = time.time() + 20
    while True:  # queued changes are applied after the restart
        doc = server.request("GET", "/v1/apps/demo/models/item/ctr", t).json()
        if set(writer.accepted_values) <= set(doc["log"]) or time.time() > deadline:
            break
        time.sleep(0.2)
    assert set(writer.accepted_values) <= set(doc["log"])
    assert len(doc["log"]) == len(set(doc["log"]))


def test_slow_consumer_is_closed_with_4008_and_others_unaffected(make_server, ws_clients):
    server = make_server(env={"SLUICE_LIMITS_SEND_QUEUE_BYTES": "65536"}).start()
    t = server.token("writer", "w")
    fast = ws_clients(server.ws_url)
    fast.register(server.token("fast", "fast-device"))
    fast.subscribe(model="blob")
    slow = ws_clients(server.ws_url, max_queue=1, read_limit=1024)
    slow.register(server.token("slow", "slow-device"))
    slow.subscribe(model="blob")
    payload = "x" * 16000
    got = []
    for i in range(300):
        assert server.request("POST", "/v1/apps/demo/models/blob", t, {"id": f"b{i}", "p": payload}).status_code == 202
        got += fast.deliveries(1)  # the fast device keeps pace: at most a frame or two queued for it
        dropped = [l for l in requests.get(server.url + "/metrics").text.splitlines()
                   if l.startswith("sluice_transport_dropped_total")]
        if dropped and float(dropped[0].split()[-1]) > 0:
            break
    assert slow.closed_code(timeout=10) == 4008
    written = i + 1
    for k in range(5):
        server.request("POST", "/v1/apps/demo/models/blob", t, {"id": f"after{k}", "p": "y"})
    # The fast device still gets everything, in order, up to the last write.
    rest = []
    while not rest or rest[-1]["data"]["id"] != "after4":
        rest += fast.deliveries(1, timeout=30)
    ids = [m["data"]["id"] for m in got + rest]
    assert ids == [f"b{k}" for k in range(written)] + [f"after{k}" for k in range(5)]
