"""Start-up, configuration, health, metrics and logs (DESIGN.md §9, issue 4 "Operations")."""
import json
import subprocess
import time

import requests

from conftest import SLUICE, Server


def test_defaults_print_where_to_connect_and_keep_the_demo_secret(tmp_path):
    s = Server(tmp_path / "data").start()
    try:
        first = s.token("u", "d")
        assert "Sluice is serving on " + s.url in s.read_log()
        assert "sluice token --app demo" in s.read_log()
    finally:
        s.stop()
    s.start()  # the same secret after a restart: old tokens still work
    try:
        assert s.request("POST", "/v1/apps/demo/models/x", first, {"a": 1}).status_code == 202
    finally:
        s.stop()


def test_bad_configuration_stops_startup_naming_the_key(tmp_path):
    cases = {
        "limits_typo.toml": ("[limits]\nmax_body_byte = 10\n", "limits.max_body_byte"),
        "bad_value.toml": ("[limits]\nresume_backlog = -1\n", "limits.resume_backlog"),
        "no_key.toml": ("[apps.shop]\n", "apps.shop"),
        "access.toml": ('[apps.shop]\nsecret = "0123456789abcdef0123"\n[apps.shop.models.cart]\naccess = "everyone"\n',
                        "apps.shop.models.cart.access"),
        "syntax.toml": ("listen = \n", "line 1"),
    }
    for name, (text, key) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        r = subprocess.run([str(SLUICE), "serve", "--config", str(f), "--data", str(tmp_path / "d")],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (name, r.stderr)
        assert key in r.stderr, (name, r.stderr)
    r = subprocess.run([str(SLUICE), "serve", "--data", str(tmp_path / "d")], capture_output=True, text=True, timeout=20,
                       env={"SLUICE_LIMITS_GRACE_PERIOD_SECONDS": "soon", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "SLUICE_LIMITS_GRACE_PERIOD_SECONDS" in r.stderr
    r = subprocess.run([str(SLUICE), "serve", "--listen", "nowhere", "--data", str(tmp_path / "d")], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2 and "listen" in r.stderr


def test_healthz_and_metrics(server, ws_clients):
    health = requests.get(server.url + "/healthz").json()
    assert health["status"] == "ok" and health["store"] == "ok"
    assert set(health["queue"]["queues"]) == {"writer", "transport-manager", "websockets-transport"}
    t = server.token()
    c = ws_clients(server.ws_url)
    c.register(t)
    c.subscribe(model="m")
    server.request("POST", "/v1/apps/demo/models/m", t, {"a": 1})
    c.deliveries(1)

    def scrape():
        text = requests.get(server.url + "/metrics").text
        return {l.split()[0]: float(l.split()[1]) for l in text.splitlines() if l and not l.startswith("#")}

    # A stage acks once its work is done: the websocket stage after sending, so the frame can
    # arrive before the ack is counted.
    deadline = time.time() + 5
    values = scrape()
    while values.get('sluice_stage_acked_total{stage="websockets-transport"}', 0) < 1 and time.time() < deadline:
        time.sleep(0.02)
        values = scrape()
    for stage in ("writer", "transport-manager", "websockets-transport"):
        for metric in ("consumed_total", "acked_total", "retried_total", "dead_lettered_total", "in_flight", "lag"):
            assert f'sluice_stage_{metric}{{stage="{stage}"}}' in values
        assert values[f'sluice_stage_acked_total{{stage="{stage}"}}'] >= 1
    assert values['sluice_transport_connections{transport="websocket"}'] == 1
    assert values['sluice_transport_sent_total{transport="websocket"}'] >= 3  # register, subscribed, delivery


def test_json_logs(tmp_path):
    s = Server(tmp_path / "data", env={"SLUICE_LOG_FORMAT": "json"}).start()
    s.stop()
    lines = [l for l in s.read_log().splitlines() if l.startswith("{")]
    assert lines, s.read_log()
    for l in lines:
        entry = json.loads(l)
        assert {"ts", "level", "msg"} <= set(entry)


def test_a_port_in_use_is_reported_not_crashed_on(server, tmp_path):
    r = subprocess.run([str(SLUICE), "serve", "--listen", f"127.0.0.1:{server.port}", "--data", str(tmp_path / "other")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in r.stderr
