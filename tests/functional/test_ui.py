"""The live page /ui (DESIGN.md §11) in headless chromium: it loads with no console errors, draws
every configured stage of the graph, and its numbers move while documents are written."""
import json
import os
import subprocess
import threading
import time

import requests

from conftest import ROOT
from test_stages import scripted, toml_value, watcher

PAGE_DIR = ROOT / "tests" / "functional" / "browser"


def test_the_live_page_draws_the_graph_and_its_numbers_move(make_server, ws_clients, tmp_path):
    server = make_server(f"""
[api]
next = ["validate"]
[stages.validate]
kind = "exec"
command = {toml_value(scripted("validate"))}
next = ["writer"]
[listeners.audit]
app = "demo"
model = "note"
kind = "exec"
command = {toml_value(scripted("ratelimit"))}
""").start()
    page = requests.get(server.url + "/ui", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script" in page.text and "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from elsewhere
    state = requests.get(server.url + "/ui/state", timeout=10).json()
    assert {s["name"] for s in state["stages"]} == {"validate", "writer", "transport-manager", "websockets-transport", "audit"}
    c = watcher(server, ws_clients, "note")
    t = server.token()
    stop = threading.Event()

    def write():
        i = 0
        while not stop.is_set():
            server.request("POST", "/v1/apps/demo/models/note", t, {"id": f"n{i}", "title": "x"})
            i += 1
            time.sleep(0.2)
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    screenshot = tmp_path / "ui.png"
    try:
        env = dict(os.environ, NODE_PATH=str(ROOT / "tests" / "oracles" / "node_modules"))
        r = subprocess.run(["node", str(PAGE_DIR / "run_ui.js"), server.url, str(screenshot)], capture_output=True, text=True, timeout=120, env=env)
    finally:
        stop.set()
        writer.join()
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["consoleErrors"] == [], out["consoleErrors"]
    assert set(out["stages"]) == {"api", "validate", "writer", "transport-manager", "websockets-transport", "audit"}
    assert {"api->validate", "validate->writer", "writer->transport-manager", "transport-manager->websockets-transport", "writer->audit"} <= set(out["edges"])
    assert out["later"]["acked"] > out["first"]["acked"] and out["later"]["feed"] > 0
    assert out["later"]["status"] == "live"
    assert screenshot.stat().st_size > 10000
    assert c.deliveries(1)


def test_the_state_stream_is_server_sent_events(server):
    with requests.get(server.url + "/ui/events", stream=True, timeout=10) as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
        lines = r.iter_lines(decode_unicode=True)
        assert next(lines) == "event: state"
        data = next(lines)
        assert data.startswith("data: ")
        state = json.loads(data[len("data: "):])
        assert {"now", "stages", "transports", "deliveries", "api_next"} <= set(state)
