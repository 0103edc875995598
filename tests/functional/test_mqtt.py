"""The MQTT transport (DESIGN.md §11) against a real mosquitto 2 with the dynamic-security plugin
(scripts/servers/mosquitto.sh, private port and data directory) and a real MQTT client (npm
`mqtt`, tests/functional/mqtt/device.js): credentials per device, delivery in `seq` order with the
same frames as over WebSocket, filtered enter/leave, another device's topic refused, offline
catch-up through the persistent session, a broker restart and a Sluice restart without loss."""
import json
import os
import pathlib
import queue
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BROKER_SCRIPT = ROOT / "scripts" / "servers" / "mosquitto.sh"
DEVICE = pathlib.Path(__file__).resolve().parent / "mqtt" / "device.js"
NODE_ENV = dict(os.environ, NODE_PATH=str(ROOT / "tests" / "oracles" / "node_modules"))


class Broker:
    def __init__(self, directory):
        self.dir = directory

    def start(self):
        subprocess.run(["bash", str(BROKER_SCRIPT), "start", str(self.dir)], check=True, capture_output=True, timeout=60)
        env = dict(line.split("=", 1) for line in (self.dir / "env").read_text().split())
        self.url = env["SLUICE_TEST_MQTT_URL"]
        self.admin_username = env["SLUICE_TEST_MQTT_ADMIN_USERNAME"]
        self.admin_password = env["SLUICE_TEST_MQTT_ADMIN_PASSWORD"]
        return self

    def stop(self):
        subprocess.run(["bash", str(BROKER_SCRIPT), "stop", str(self.dir)], check=True, capture_output=True, timeout=60)

    def config(self):
        return (f'[transports.mqtt]\nurl = "{self.url}"\nadmin_username = "{self.admin_username}"\n'
                f'admin_password = "{self.admin_password}"\n')


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "mosquitto").start()
    yield b
    b.stop()


class Device:
    """One MQTT client (node device.js) with a persistent session, subscribed to `topics`."""

    def __init__(self, credentials, client_id, topics):
        self.proc = subprocess.Popen(
            ["node", str(DEVICE), credentials["url"], credentials["username"], credentials["password"], client_id, *topics],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=NODE_ENV)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"event": "output", "line": line})

    def next(self, kind, timeout=20):
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"no '{kind}' event from the MQTT device within {timeout} s")
            try:
                e = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if e["event"] == kind:
                return e

    def subacks(self, count):
        return {e["topic"]: e["qos"] for e in (self.next("suback") for _ in range(count))}

    def frames(self, count, timeout=30):
        """The next `count` frames, duplicates (a frame the broker got twice) dropped by `seq`."""
        out, seen = [], set()
        deadline = time.time() + timeout
        while len(out) < count:
            frame = json.loads(self.next("message", max(0.1, deadline - time.time()))["payload"])
            if frame.get("seq") in seen:
                continue
            seen.add(frame.get("seq"))
            out.append(frame)
        return out

    def quiet(self, seconds=1.0):
        """Messages that arrive within `seconds` (there should be none)."""
        got = []
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                e = self.events.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if e["event"] == "message":
                got.append(e)
        return got

    def close(self):
        """Ends the session cleanly (DISCONNECT): the broker keeps it, and queues what comes."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)


@pytest.fixture
def devices():
    made = []

    def make(*args):
        d = Device(*args)
        made.append(d)
        return d

    yield make
    for d in made:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(10)


def mqtt_credentials(server, token):
    r = server.request("POST", "/v1/apps/demo/devices/mqtt", token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"url", "username", "password", "topic"}
    return body


def mqtt_device(server, devices, name, subscription=None):
    """A device with MQTT credentials, connected and subscribed to its topic (and, given one, to a
    subscription over HTTP): (token, credentials, Device)."""
    token = server.token(device=name)
    creds = mqtt_credentials(server, token)
    if subscription is not None:
        r = server.request("POST", "/v1/apps/demo/subscriptions", token, subscription)
        assert r.status_code == 200, r.text
    device = devices(creds, f"{name}-session", [creds["topic"]])
    assert device.subacks(1) == {creds["topic"]: 1}
    return token, creds, device


def wait_published(server, count, timeout=20):
    """Until the broker acknowledged `count` frames (sluice_transport_sent_total{transport="mqtt"})."""
    deadline = time.time() + timeout
    while True:
        metrics = server.request("GET", "/metrics").text
        sent = [float(line.split()[-1]) for line in metrics.splitlines() if line.startswith('sluice_transport_sent_total{transport="mqtt"}')]
        if sent and sent[0] >= count:
            return
        assert time.time() < deadline, f"the broker acknowledged {sent} frames, not {count}"
        time.sleep(0.05)


def write(server, token, title, **fields):
    r = server.request("POST", "/v1/apps/demo/models/task", token, {"title": title, **fields})
    assert r.status_code == 202, r.text
    return r.json()


def test_a_device_reads_its_topic_in_seq_order_with_the_same_frames_as_its_websocket(make_server, broker, devices, ws_clients):
    server = make_server(broker.config()).start()
    token = server.token(device="phone")
    creds = mqtt_credentials(server, token)
    assert creds["topic"] == "sluice/demo/devices/phone"
    assert creds["url"] == broker.url
    device = devices(creds, "phone-session", [creds["topic"]])
    assert device.subacks(1) == {creds["topic"]: 1}
    # Subscriptions are made over HTTP, as for SSE; the same device also holds a WebSocket.
    assert server.request("POST", "/v1/apps/demo/subscriptions", token, {"model": "task"}).status_code == 200
    ws = ws_clients(server.ws_url)
    assert ws.register(token)["data"]["success"] is True

    ops = [write(server, token, f"t{i}")["op"] for i in range(30)]
    frames = device.frames(30)
    assert [f["seq"] for f in frames] == list(range(1, 31))
    assert [f["op"] for f in frames] == ops
    assert all(f["event"] == "model_created" for f in frames)
    assert [f["data"]["title"] for f in frames] == [f"t{i}" for i in range(30)]
    # Each change on each transport, and the frames are the same.
    assert ws.deliveries(30) == frames


def test_filtered_subscriptions_send_entered_and_left(make_server, broker, devices):
    server = make_server(broker.config()).start()
    token, _, device = mqtt_device(server, devices, "tablet", {"model": "task", "filter": {"done": False}})
    doc = write(server, token, "open", done=False)
    write(server, token, "closed", done=True)  # never matches: not delivered
    path = f"/v1/apps/demo/models/task/{doc['id']}"
    assert server.request("PATCH", path, token, [{"op": "replace", "path": "/done", "value": True}]).status_code == 202
    assert server.request("PATCH", path, token, [{"op": "replace", "path": "/done", "value": False}]).status_code == 202
    frames = device.frames(3)
    assert [(f["event"], f["seq"]) for f in frames] == [("model_created", 1), ("model_left", 2), ("model_entered", 3)]
    assert frames[0]["data"]["title"] == "open"
    assert device.quiet(0.5) == []


def test_a_device_may_read_its_own_topic_only(make_server, broker, devices):
    server = make_server(broker.config()).start()
    mine = mqtt_credentials(server, server.token(device="d1"))
    other = mqtt_credentials(server, server.token(device="d2"))
    device = devices(mine, "d1-session", [mine["topic"], other["topic"], "sluice/#", "#"])
    granted = device.subacks(4)
    assert granted == {mine["topic"]: 1, other["topic"]: 128, "sluice/#": 128, "#": 128}
    # Nor can it connect as another device without that device's password.
    intruder = devices({**other, "password": mine["password"]}, "d2-intruder", [other["topic"]])
    assert "authoriz" in intruder.next("error")["message"].lower()


def test_an_offline_device_gets_what_it_missed_through_its_persistent_session(make_server, broker, devices):
    server = make_server(broker.config()).start()
    token = server.token(device="laptop")
    creds = mqtt_credentials(server, token)
    server.request("POST", "/v1/apps/demo/subscriptions", token, {"model": "task"})
    first = devices(creds, "laptop-session", [creds["topic"]])
    first.subacks(1)
    write(server, token, "before")
    assert [f["seq"] for f in first.frames(1)] == [1]
    first.close()
    for i in range(5):
        write(server, token, f"offline-{i}")
    wait_published(server, 6)  # the broker acknowledged them: it holds them for the session
    again = devices(creds, "laptop-session", [])
    assert again.next("connect")["session_present"] is True
    frames = again.frames(5)
    assert [f["seq"] for f in frames] == [2, 3, 4, 5, 6]
    assert [f["data"]["title"] for f in frames] == [f"offline-{i}" for i in range(5)]


def test_nothing_is_lost_while_the_broker_restarts(make_server, broker, devices):
    server = make_server(broker.config()).start()
    token, _, device = mqtt_device(server, devices, "kiosk", {"model": "task"})
    write(server, token, "a")
    assert [f["seq"] for f in device.frames(1)] == [1]

    broker.stop()
    for i in range(10):  # the API still accepts writes: the broker is not on the write path
        write(server, token, f"during-{i}")
    deadline = time.time() + 20
    while server.request("GET", "/healthz").json().get("mqtt") != "unavailable":
        assert time.time() < deadline, "healthz never said the broker was unavailable"
        time.sleep(0.1)
    broker.start()
    frames = device.frames(10, timeout=40)
    assert [f["seq"] for f in frames] == list(range(2, 12))
    assert [f["data"]["title"] for f in frames] == [f"during-{i}" for i in range(10)]
    deadline = time.time() + 20
    while server.request("GET", "/healthz").status_code != 200:
        assert time.time() < deadline, server.request("GET", "/healthz").text
        time.sleep(0.1)
    assert server.request("GET", "/healthz").json()["mqtt"] == "ok"


def test_sluice_resumes_publishing_after_a_restart(make_server, broker, devices):
    server = make_server(broker.config()).start()
    token, _, device = mqtt_device(server, devices, "watch", {"model": "task"})
    write(server, token, "first")
    assert [f["seq"] for f in device.frames(1)] == [1]
    broker.stop()
    for i in range(3):
        assert server.request("POST", "/v1/apps/demo/models/task?wait=1", token, {"title": f"kept-{i}"}).status_code == 201
    assert server.terminate() == 0  # stops with the frames unpublished: they are in the device log
    broker.start()
    server.start()
    frames = device.frames(3, timeout=40)
    assert [f["seq"] for f in frames] == [2, 3, 4]
    assert [f["data"]["title"] for f in frames] == [f"kept-{i}" for i in range(3)]
    write(server, token, "after")
    assert [f["seq"] for f in device.frames(1)] == [5]


def test_new_credentials_replace_the_old_and_logout_removes_them(make_server, broker, devices):
    server = make_server(broker.config()).start()
    token = server.token(device="car")
    old = mqtt_credentials(server, token)
    new = mqtt_credentials(server, token)
    assert new["password"] != old["password"] and new["username"] == old["username"]
    refused = devices(old, "car-old", [old["topic"]])
    assert "authoriz" in refused.next("error")["message"].lower()
    device = devices(new, "car-session", [new["topic"]])
    device.subacks(1)
    assert server.request("POST", "/v1/logout", token).status_code == 200
    device.next("close")  # the broker drops the client of a device that logged out
    assert "authoriz" in device.next("error")["message"].lower()


def test_bad_requests_for_credentials_are_refused_with_a_reason(make_server, broker, server):
    assert server.request("POST", "/v1/apps/demo/devices/mqtt", server.token()).status_code == 404  # not configured
    mqtt_server = make_server(broker.config(), name="mqtt").start()
    assert mqtt_server.request("POST", "/v1/apps/demo/devices/mqtt").status_code == 401
    r = mqtt_server.request("POST", "/v1/apps/demo/devices/mqtt", mqtt_server.token(device="a+b"))
    assert r.status_code == 400 and "a+b" in r.json()["message"]
    assert mqtt_server.request("GET", "/v1/apps/demo/devices/mqtt", mqtt_server.token()).status_code == 405


def test_configuration_errors_name_the_key(make_server, broker, tmp_path):
    bad = make_server('[transports.mqtt]\nurl = "http://127.0.0.1:1"\nadmin_username = "a"\nadmin_password = "b"\n', name="bad")
    with pytest.raises(RuntimeError, match="transports.mqtt.url"):
        bad.start()
    missing = make_server(f'[transports.mqtt]\nurl = "{broker.url}"\n', name="missing")
    with pytest.raises(RuntimeError, match="transports.mqtt.admin_username"):
        missing.start()
