"""The examples of issue 9 as their READMEs show them: a chain (validate -> write -> notify by
webhook, examples/chain) and a reconciler (examples/reconciler). The listener example runs in
test_listeners.py, the stage examples in test_stages.py."""
import json
import subprocess
import sys

from conftest import ROOT, free_port
from test_stages import wait_for, watcher


def test_the_chain_example(make_server, ws_clients, tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    port = free_port()
    notify = subprocess.Popen([sys.executable, str(ROOT / "examples/chain/notify.py"), "--port", str(port), "--outbox", str(outbox)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in notify.stdout.readline()
        toml = (ROOT / "examples/chain/sluice.toml").read_text().replace("127.0.0.1:9100", f"127.0.0.1:{port}")
        toml = toml.replace('"examples/chain/', f'"{ROOT}/examples/chain/')
        server = make_server(toml).start()
        c = watcher(server, ws_clients, "order")
        t = server.token("alice", "laptop")
        r = server.request("POST", "/v1/apps/demo/models/order?wait=1", t,
                           {"id": "o1", "customer": "ann", "items": [{"sku": "tea", "quantity": 2, "price": 3.5}]})
        assert r.status_code == 201 and r.json()["total"] == 7.0, r.text
        r = server.request("POST", "/v1/apps/demo/models/order?wait=1", t, {"id": "o2", "customer": "bob", "items": []})
        assert r.status_code == 422 and r.json()["error"] == "rejected" and "at least one item" in r.json()["message"], r.text
        assert server.request("GET", "/v1/apps/demo/models/order/o2", t).status_code == 404
        (created,) = c.deliveries(1)
        assert created["data"]["id"] == "o1" and created["data"]["total"] == 7.0
        lines = wait_for(lambda: outbox.exists() and outbox.read_text().splitlines(), what="the notification")
        notes = [json.loads(l) for l in lines]
        assert notes == [{"op": created["op"], "event": "model_created", "order": "o1", "customer": "ann", "total": 7.0}]
    finally:
        notify.kill()
        notify.wait()


def test_the_reconciler_example(make_server, ws_clients):
    toml = (ROOT / "examples/reconciler/sluice.toml").read_text().replace('"examples/reconciler/', f'"{ROOT}/examples/reconciler/')
    server = make_server(toml.replace("interval_seconds = 30", "interval_seconds = 1")).start()
    c = watcher(server, ws_clients, "order")
    t = server.token("alice", "laptop")
    r = server.request("POST", "/v1/apps/demo/models/order?wait=1", t, {"id": "o1", "items": [{"sku": "tea", "quantity": 2, "price": 3.5}], "total": 5})
    assert r.status_code == 201, r.text
    assert server.request("POST", "/v1/apps/demo/models/order?wait=1", t, {"id": "o2", "items": [{"sku": "cup", "quantity": 1, "price": 2}], "total": 2}).status_code == 201
    c.deliveries(2)
    (fixed,) = c.deliveries(1, timeout=30)
    assert fixed["event"] == "model_updated" and fixed["data"][0]["path"] == "/total" and fixed["data"][0]["value"] == 7.0
    assert server.request("GET", "/v1/apps/demo/models/order/o1", t).json()["total"] == 7.0

    def results():
        s = server.request("GET", "/v1/apps/demo/reconcilers/order-totals", t).json()
        return s if len(s["items"]) == 2 else None
    s = wait_for(results, what="both orders checked")
    items = {i["id"]: i for i in s["items"]}
    assert items["o2"]["status"] == "ok"
    assert items["o1"]["status"] in ("fixed", "ok")  # ok once the next run checked the fixed total
    assert s["counts"]["failed"] == 0
