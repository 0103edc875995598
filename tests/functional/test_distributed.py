"""The distributed shape (DESIGN.md §10): every stage its own process on RabbitMQ, PostgreSQL and
Redis. The embedded suite's user-level tests run unchanged against a deployment of two API
processes, two writers, two transport managers and two websocket instances (clients go round
them); then the faults only this shape has."""
import json
import subprocess
import sys
import threading
import time

import pytest
import requests
import websockets.exceptions

from conftest import ROOT, SLUICE, Ws
from distributed import Deployment, backends_fixture, server  # noqa: F401
from test_bad_input import dead_letter_a_patch, writer_dead
from test_failures import VALIDATE_STAGE
from test_hooks import hooks_config
from test_listeners import listener_config, received
from test_reconcilers import calls as reconciler_calls, reconciler_config
from test_stages import scripted, toml_value, wait_for
from test_schemas import TASK_SCHEMA
from test_stages import audit_server  # noqa: F401

# The embedded suite's tests, run here against the `server` fixture of distributed.py.
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
from test_replace import (  # noqa: F401
    test_put_moves_a_document_out_of_a_filtered_view,
    test_put_replaces_the_document_and_devices_get_the_patch_between_them,
)
from test_subscriptions import (  # noqa: F401
    test_a_change_matching_several_subscriptions_reaches_the_device_once,
    test_channel_name_is_the_pattern_plus_the_sha256_of_the_canonical_filter,
    test_leaving_one_view_and_staying_in_another,
    test_subscribing_twice_is_idempotent,
    test_two_filtered_subscriptions_side_by_side_on_one_model,
    test_unsubscribe_removes_exactly_one,
)


backends = backends_fixture()


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


def test_a_change_written_right_after_subscribed_reaches_the_device(server, ws_clients):
    """The subscription is made on a websocket instance, the change through an API process and a
    transport manager that learn of it through Redis: it must be there in time, every time."""
    writer = server.token("writer", "w")
    for i in range(20):
        c = ws_clients(server.ws_url)
        c.register(server.token(f"u{i}", f"fresh-{i}"))
        c.subscribe(model=f"fresh{i}")
        assert server.request("POST", f"/v1/apps/demo/models/fresh{i}", writer, {"id": "x"}).status_code == 202
        (got,) = c.deliveries(1)
        assert got["event"] == "model_created" and got["data"]["id"] == "x"
        c.close()


def test_custom_stages_run_as_processes_of_their_own(backends, tmp_path, ws_clients, audit_server):
    """DESIGN §8 in this shape: an exec stage before the writer (two instances) and a webhook stage
    beside the transport manager, each `sluice stage NAME` on RabbitMQ."""
    d = Deployment(tmp_path / "deployment", backends, config_extra=f"""
[api]
next = ["enrich"]
[stages.enrich]
kind = "exec"
command = {json.dumps([sys.executable, str(ROOT / "examples" / "exec-stage" / "enrich.py")])}
next = ["writer"]
[stages.writer]
next = ["transport-manager", "audit"]
[stages.audit]
kind = "webhook"
url = "{audit_server}/audit"
""").start(custom={"enrich": 2, "audit": 1})
    try:
        t = d.token("u1", "writer")
        c = ws_clients(d.ws_url)
        c.register(d.token("watch", "watcher"))
        c.subscribe(model="post")
        for i in range(6):
            r = d.request("POST", "/v1/apps/demo/models/post?wait=1", t, {"id": f"p{i}", "title": f"Hello, Post {i}!"})
            assert r.status_code == 201 and r.json()["slug"] == f"hello-post-{i}", r.text
        frames = c.deliveries(6)
        assert [f["data"]["slug"] for f in frames] == [f"hello-post-{i}" for i in range(6)]
        deadline = time.time() + 30
        while len(requests.get(audit_server + "/records", timeout=5).json()) < 6:
            assert time.time() < deadline, "the audit webhook did not get every envelope"
            time.sleep(0.1)
        records = requests.get(audit_server + "/records", timeout=5).json()
        assert sorted(r["envelope"]["id"] for r in records) == [f"p{i}" for i in range(6)]
        assert all(r["envelope"]["after"]["slug"].startswith("hello-post-") for r in records)
    finally:
        d.stop()


def test_a_format_stage_after_the_transport_manager_edits_what_devices_get_and_resume(backends, tmp_path, ws_clients):
    """A custom stage on the delivery path (`transports.websocket`), as its own processes: devices
    get its edited frames live and, after moving to another websocket instance, in what they
    missed (the frames are numbered after the custom stage, so the backlog holds its edits)."""
    d = Deployment(tmp_path / "deployment", backends, config_extra=f"""
[stages.transport-manager.transports]
websocket = "format"
[stages.format]
kind = "exec"
command = {toml_value(scripted("format"))}
next = ["websockets-transport"]
""").start(custom={"format": 2})
    try:
        t = d.token("watch", "watcher")
        first, second = d.sockets[0].port, d.sockets[1].port
        a = ws_clients(f"ws://127.0.0.1:{first}/v1/ws")
        a.register(t)
        a.subscribe(model="task")
        writer = d.token("u1", "writer")
        for i in range(3):
            assert d.request("POST", "/v1/apps/demo/models/task", writer, {"id": f"t{i}"}).status_code == 202
        got = a.deliveries(3)
        a.close()
        for i in range(3, 6):  # while the device is away
            assert d.request("POST", "/v1/apps/demo/models/task", writer, {"id": f"t{i}"}).status_code == 202
        b = ws_clients(f"ws://127.0.0.1:{second}/v1/ws")
        assert b.register(t, resume_from=got[-1]["seq"])["data"]["success"] is True
        missed = b.deliveries(3)
        frames = got + missed
        assert [f["data"]["id"] for f in frames] == [f"t{i}" for i in range(6)]
        assert [f["seq"] for f in frames] == list(range(1, 7))
        assert all(f["data"]["formatted_by"] == "format" for f in frames)
        assert d.request("PATCH", "/v1/apps/demo/models/task/t0", writer, [{"op": "add", "path": "/x", "value": 1}]).status_code == 202
        (live,) = b.deliveries(1)
        assert live["event"] == "model_updated" and live["seq"] == 7 and live["data"][0]["value"] == 1
    finally:
        d.stop()


def test_a_change_refused_before_the_writer_is_reported_to_a_waiting_api(backends, tmp_path):
    """The refusing stage and the API are different processes: the verdict goes through the store."""
    stage = tmp_path / "validate.py"
    stage.write_text(VALIDATE_STAGE)
    d = Deployment(tmp_path / "deployment", backends, config_extra=f"""
[limits]
wait_timeout_ms = 3000
[api]
next = ["validate"]
[stages.validate]
kind = "exec"
command = {json.dumps([sys.executable, str(stage)])}
next = ["writer"]
""").start(custom={"validate": 1})
    try:
        t = d.token()
        started = time.time()
        r = d.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "v1", "bad": True})
        assert r.status_code == 422 and r.json()["error"] == "rejected", r.text
        assert "validate" in r.json()["message"] and "field 'bad' is not allowed" in r.json()["message"]
        assert time.time() - started < 2.5, "answered by the wait timeout, not by the refusal"
        r = d.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "v2", "skip": True})
        assert r.status_code == 202, r.text  # consumed on purpose: accepted, not applied
        for doc_id in ("v1", "v2"):
            assert d.request("GET", f"/v1/apps/demo/models/task/{doc_id}", t).status_code == 404
            r = d.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": doc_id, "ok": 1})
            assert r.status_code == 201 and r.json()["ok"] == 1, r.text
    finally:
        d.stop()


def test_model_schemas_hold_in_the_api_and_in_the_writer(backends, tmp_path):
    schema = tmp_path / "task.json"
    schema.write_text(json.dumps(TASK_SCHEMA))
    d = Deployment(tmp_path / "deployment", backends, config_extra=f"""
[apps.demo]
secret = "demo-secret-of-enough-length"
[apps.demo.models.task]
schema_file = "{schema}"
""").start(apis=1, writers=1, managers=1, websockets=1)
    try:
        t = d.token()
        r = d.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "s1", "title": "ok", "n": 0})
        assert r.status_code == 201, r.text
        r = d.request("POST", "/v1/apps/demo/models/task", t, {"title": 5})
        assert r.status_code == 422 and "at /title: 'type'" in r.json()["message"], r.text
        # This API process leaves patches to the writer, which checks the version it meets.
        r = d.request("PATCH", "/v1/apps/demo/models/task/s1?wait=1", t, [{"op": "replace", "path": "/n", "value": 11}])
        assert r.status_code == 422 and r.json()["error"] == "schema_violation" and "at /n: 'maximum'" in r.json()["message"], r.text
        assert d.request("GET", "/v1/apps/demo/models/task/s1", t).json()["n"] == 0
    finally:
        d.stop()


def test_hooks_run_in_the_api_processes_and_after_hooks_in_the_writer(backends, tmp_path, ws_clients):
    record = tmp_path / "after.jsonl"
    d = Deployment(tmp_path / "deployment", backends, config_extra=hooks_config(
        (["before:create"], ["stamp"]), (["before:create"], ["guard"]), (["after:get"], ["redact"]),
        (["after:create"], ["record", record]))).start(apis=2, writers=1, managers=1, websockets=1)
    try:
        c = ws_clients(d.ws_url)
        c.register(d.token("watch", "watcher"))
        c.subscribe(model="task")
        t = d.token("ann", "w")
        for i in range(4):  # through both API processes
            r = d.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": f"h{i}", "secret": "x"})
            assert r.status_code == 201 and r.json()["stamped_by"] == "hook", r.text
        assert all(f["data"]["stamped_for"] == "ann" for f in c.deliveries(4))
        r = d.request("POST", "/v1/apps/demo/models/task", t, {"id": "no", "title": "forbidden"})
        assert r.status_code == 409 and r.json()["error"] == "title_taken", r.text
        got = d.request("GET", "/v1/apps/demo/models/task/h0", t)
        assert got.status_code == 200 and "secret" not in got.json() and got.json()["stamped_by"] == "hook"
        calls = wait_for(lambda: (lambda l: l if len(l) == 4 else None)(record.read_text().splitlines() if record.exists() else []),
                         what="the writer's after:create hooks")
        assert sorted(json.loads(l)["id"] for l in calls) == [f"h{i}" for i in range(4)]
    finally:
        d.stop()


def test_one_api_process_runs_a_reconciler_and_another_takes_over_when_it_dies(backends, tmp_path):
    """Both API processes run the reconciler's thread; the lease in PostgreSQL lets one check at a
    time, and the lease of a process killed outright expires so that the other takes over."""
    log = tmp_path / "calls.jsonl"
    d = Deployment(tmp_path / "deployment", backends, config_extra=reconciler_config(log, check="slow", check_args=(0.1,), fix=None)
                   ).start(apis=2, writers=1, managers=1, websockets=1)
    try:
        t = d.token()
        for i in range(4):
            assert d.request("POST", "/v1/apps/demo/models/payment?wait=1", t, {"id": f"r{i}", "status": "pending"}).status_code == 201
        wait_for(lambda: len(reconciler_calls(log)) >= 12, timeout=30, what="three runs")
        holders = {c["pid"] for c in reconciler_calls(log)}
        apis = {a.proc.pid: a for a in d.apis}
        assert len(holders) == 1 and holders <= set(apis), (holders, set(apis))
        (holder,) = holders
        apis[holder].kill()
        killed = time.time()
        survivor = next(a for pid, a in apis.items() if pid != holder)
        wait_for(lambda: any(c["pid"] == survivor.proc.pid for c in reconciler_calls(log)), timeout=30, what="the other process to take over")
        first = min(c["start"] for c in reconciler_calls(log) if c["pid"] == survivor.proc.pid)
        assert first - killed < 15  # lease_seconds = 2, interval 1 s
        r = requests.get(f"http://127.0.0.1:{survivor.port}/v1/apps/demo/reconcilers/payments", headers={"Authorization": f"Bearer {t}"}, timeout=10)
        assert r.status_code == 200 and r.json()["counts"]["ok"] == 4, r.text
    finally:
        d.stop()


def test_cors_holds_in_the_api_and_websocket_processes(backends, tmp_path):
    app = "https://app.example.com"
    d = Deployment(tmp_path / "deployment", backends, config_extra=f'[http]\ncors_origins = ["{app}"]\n'
                   ).start(apis=1, writers=1, managers=1, websockets=1)
    try:
        r = requests.options(d.url + "/v1/apps/demo/models/task", headers={"Origin": app, "Access-Control-Request-Method": "POST"}, timeout=10)
        assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == app
        t = d.token()
        r = requests.post(d.url + "/v1/apps/demo/models/task", json={"id": "c"}, headers={"Origin": app, "Authorization": f"Bearer {t}"}, timeout=10)
        assert r.status_code == 202 and r.headers["Access-Control-Allow-Origin"] == app
        ws_port = d.sockets[0].port
        with requests.get(f"http://127.0.0.1:{ws_port}/v1/sse?token={t}", headers={"Origin": app}, stream=True, timeout=10) as sse:
            assert sse.status_code == 200 and sse.headers["Access-Control-Allow-Origin"] == app
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as refused:
            Ws(f"ws://127.0.0.1:{ws_port}/v1/ws", origin="https://evil.example")
        assert refused.value.status_code == 403
    finally:
        d.stop()


def test_listener_events_wait_while_it_is_down_and_two_processes_split_them(backends, tmp_path):
    log, config = listener_config(tmp_path, "everything")
    d = Deployment(tmp_path / "deployment", backends, config_extra=config).start(
        apis=1, writers=1, managers=1, websockets=1, custom={"everything": 2})
    try:
        t = d.token()
        for p in ("everything0", "everything1"):
            assert d.processes[p].stop() == 0
        for i in range(30):
            assert d.request("POST", "/v1/apps/demo/models/user?wait=1", t, {"id": f"u{i}"}).status_code == 201
        assert received(log) == []  # nobody listening: the events wait in the listener's queue
        for p in ("everything0", "everything1"):
            d.processes[p].start()
        got = wait_for(lambda: (lambda r: r if len(r) >= 30 else None)(received(log)), 60, "30 listener events")
        for i in range(30, 60):  # in steady state, with both up
            assert d.request("POST", "/v1/apps/demo/models/user?wait=1", t, {"id": f"u{i}"}).status_code == 201
        got = wait_for(lambda: (lambda r: r if len(r) >= 60 else None)(received(log)), 60, "60 listener events")
        assert sorted(e["id"] for e in got) == sorted(f"u{i}" for i in range(60)), "an event missing or processed twice"
        steady = [e for e in got if int(e["id"][1:]) >= 30]
        assert len({e["pid"] for e in steady}) == 2, "one process did all the work"
    finally:
        d.stop()


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
    items = server.request("POST", f"/v1/apps/demo/models/{model}/query", t, {"limit": 10000}).json()["items"]
    ids = [d["id"] for d in items]
    assert len(ids) == len(set(ids))
    assert set(load.accepted) <= set(ids)
    assert all(d["version"] == 1 for d in items)


def dlq(server, *args):
    return subprocess.run([str(SLUICE), "dlq", *args, "--config", str(server.config), "--data", str(server.data_dir)],
                          capture_output=True, text=True, timeout=60)


def test_dead_letters_on_rabbitmq_are_listed_and_replayed_in_order(server):
    t = server.token()
    failed = dead_letter_a_patch(server, t, "poison")
    # The messages behind the poison one kept flowing.
    assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "after"}).status_code == 201
    listed = dlq(server, "list", "--stage", "writer")
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(l) for l in listed.stdout.splitlines()]
    assert len(lines) == 1, listed.stdout
    line = lines[0]
    assert line["stage"] == "writer" and "operation 0" in line["reason"] and line["key"] == f"demo/task/{failed}"
    # Replayed unchanged, it fails again and is dead again.
    replayed = dlq(server, "replay", "--stage", "writer", "--id", str(line["id"]))
    assert replayed.returncode == 0 and replayed.stdout.startswith("1 "), replayed.stderr
    deadline = time.time() + 30
    while True:
        again = [json.loads(l) for l in dlq(server, "list", "--stage", "writer").stdout.splitlines()]
        if again and again[0]["at"] > line["at"]:
            break
        assert time.time() < deadline, "the replayed change did not come back to the dead letters"
        time.sleep(0.2)
    # A newer change to the document: replaying the older patch would apply it out of order.
    assert server.request("PATCH", f"/v1/apps/demo/models/task/{failed}?wait=1", t,
                          [{"op": "replace", "path": "/n", "value": 2}]).status_code == 200
    refused = dlq(server, "replay", "--stage", "writer")
    assert refused.returncode == 1 and refused.stdout.startswith("0 ") and "newer" in refused.stderr, refused
    assert server.request("GET", f"/v1/apps/demo/models/task/{failed}", t).json().get("ok") is None
    assert writer_dead(server) >= 1


def changes_survive(server, ws_clients, disrupt, what):
    """Continuous writes and one subscribed device; `disrupt()` in the middle (a server restart):
    writes are accepted again by themselves, every accepted change reaches the device once, in
    order, on the socket it had."""
    model = "restart"
    watcher = server.token("watcher", "watcher-device")
    c = ws_clients(server.ws_url)
    c.register(watcher)
    c.subscribe(model=model)

    class Client:
        def recv(self, timeout):
            return c.recv(timeout)

        def reconnect(self, resume_from):
            raise AssertionError(f"the device lost its socket: {what} must not close it")

    load = Load(server, server.token("writer", "w"), model)
    load.thread.start()
    seen, seqs = Seen(), []
    client = collect(Client(), watcher, seen, seqs, {"d10"}, timeout=30)
    assert "d10" in seen, "the load did not get going: " + server.read_log()
    disrupt()
    after = len(load.accepted)
    deadline = time.time() + 60  # the pipeline recovers by itself: new changes are accepted again
    while len(load.accepted) < after + 20 and time.time() < deadline:
        time.sleep(0.1)
    load.stop.set()
    load.thread.join(30)
    assert len(load.accepted) >= after + 20, f"writes were not accepted again after {what}"
    collect(client, watcher, seen, seqs, set(load.accepted), timeout=90)
    missing = set(load.accepted) - seen
    assert not missing, f"{len(missing)} accepted changes never delivered, e.g. {sorted(missing)[:5]}"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap or a repeat in the sequence numbers"


@pytest.mark.parametrize("backend", ["postgres", "redis", "rabbitmq"])
def test_a_backend_restart_is_survived_and_loses_nothing(server, backends, ws_clients, backend):
    changes_survive(server, ws_clients, lambda: backends.ctl(backend, "restart"), f"a {backend} restart")
