"""`sluice tail` (DESIGN.md §11): a subscription from a shell, as JSON lines: the snapshot, then the
events, until interrupted; exit 2 on a bad filter; reconnects with resume when the server restarts."""
import json
import queue
import subprocess
import threading

import pytest


class Tail:
    """`sluice tail ...` running, its stdout lines parsed as they come."""

    def __init__(self, sluice_bin, server, *args):
        self.proc = subprocess.Popen([sluice_bin, "tail", "--app", "demo", "--url", server.url, "--data", str(server.data_dir), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, n=1, timeout=20):
        return [self.lines.get(timeout=timeout) for _ in range(n)]

    def nothing_more(self, timeout=1.0):
        with pytest.raises(queue.Empty):
            self.lines.get(timeout=timeout)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def tails(sluice_bin):
    made = []

    def make(server, *args):
        made.append(Tail(sluice_bin, server, *args))
        return made[-1]
    yield make
    for t in made:
        t.stop()


def write(server, token, method, path, body=None):
    r = server.request(method, "/v1/apps/demo/models/" + path + ("?wait=1" if method != "GET" else ""), token, body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_prints_the_snapshot_then_every_event(server, tails):
    t = server.token()
    write(server, t, "POST", "task", {"id": "a1", "title": "first"})
    tail = tails(server, "--model", "task")
    (snapshot,) = tail.next()
    assert snapshot["event"] == "snapshot" and snapshot["data"]["id"] == "a1" and snapshot["channel"] == "app:demo:model:task"
    write(server, t, "POST", "task", {"id": "a2"})
    write(server, t, "PATCH", "task/a1", [{"op": "replace", "path": "/title", "value": "second"}])
    write(server, t, "DELETE", "task/a2")
    created, updated, deleted = tail.next(3)
    assert (created["event"], created["data"]["id"]) == ("model_created", "a2")
    assert updated["event"] == "model_updated" and updated["data"][0]["value"] == "second"
    assert (deleted["event"], deleted["data"]["id"]) == ("model_deleted", "a2")
    assert [f["seq"] for f in (created, updated, deleted)] == [1, 2, 3]


def test_a_filtered_tail_sees_documents_enter_and_leave(server, tails):
    t = server.token()
    write(server, t, "POST", "task", {"id": "o1", "status": "open"})
    write(server, t, "POST", "task", {"id": "c1", "status": "closed"})
    tail = tails(server, "--model", "task", "--filter", '{"status": "open"}')
    assert [s["data"]["id"] for s in tail.next()] == ["o1"]
    write(server, t, "PATCH", "task/c1", [{"op": "replace", "path": "/status", "value": "open"}])
    write(server, t, "PATCH", "task/o1", [{"op": "replace", "path": "/status", "value": "closed"}])
    entered, left = tail.next(2)
    assert (entered["event"], entered["data"]["id"]) == ("model_entered", "c1")
    assert (left["event"], left["data"]["id"]) == ("model_left", "o1")
    tail.nothing_more()


def test_one_document_by_id(server, tails):
    t = server.token()
    write(server, t, "POST", "task", {"id": "x"})
    tail = tails(server, "--model", "task", "--id", "x")
    assert tail.next()[0]["data"]["id"] == "x"
    write(server, t, "POST", "task", {"id": "y"})
    write(server, t, "PATCH", "task/x", [{"op": "add", "path": "/n", "value": 1}])
    (only,) = tail.next()
    assert only["event"] == "model_updated" and only["data"][0]["metadata"]["id"] == "x"


def test_a_bad_filter_exits_2_naming_it(sluice_bin, server):
    r = subprocess.run([sluice_bin, "tail", "--app", "demo", "--model", "task", "--filter", '{"n": {"$near": 1}}', "--url", server.url,
                        "--data", str(server.data_dir)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "$near" in r.stderr, (r.returncode, r.stderr)
    r = subprocess.run([sluice_bin, "tail", "--app", "demo", "--model", "task", "--filter", "{not json", "--url", server.url,
                        "--data", str(server.data_dir)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--filter" in r.stderr, (r.returncode, r.stderr)


def test_it_reconnects_and_resumes_when_the_server_restarts(server, tails):
    t = server.token()
    write(server, t, "POST", "task", {"id": "seed"})
    tail = tails(server, "--model", "task")
    assert tail.next()[0]["event"] == "snapshot"  # subscribed
    write(server, t, "POST", "task", {"id": "before"})
    (first,) = tail.next()
    assert first["data"]["id"] == "before"
    server.terminate()
    server.start()
    for i in range(3):
        write(server, t, "POST", "task", {"id": f"after{i}"})
    frames = tail.next(3, timeout=30)
    assert [f["data"]["id"] for f in frames] == ["after0", "after1", "after2"]
    assert [f["seq"] for f in [first, *frames]] == [1, 2, 3, 4]  # resumed: no gap, nothing twice
    tail.nothing_more()
    assert tail.proc.poll() is None
