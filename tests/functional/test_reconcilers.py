"""Reconcilers (DESIGN.md §9, the seed's Sync): due documents only, checks with bounded concurrency
and a timeout each, fixes through the write path, results kept in the store and shown by
GET /v1/apps/{app}/reconcilers/{name}."""
import json
import pathlib
import subprocess
import sys
import time

import pytest
import requests

from test_stages import toml_value, wait_for, watcher

SCRIPT = pathlib.Path(__file__).resolve().parent / "stages" / "reconcile.py"
APP = '[apps.demo]\nsecret = "demo-secret-of-enough-length"\n'


def role(name, log, *args):
    return toml_value([sys.executable, str(SCRIPT), name, str(log), *map(str, args)])


def reconciler_config(log, check="amount", check_args=(), fix="zero", interval=1, concurrency=4, extra=""):
    text = f"""
[reconcilers.payments]
app = "demo"
model = "payment"
filter = {{ status = "pending" }}
interval_seconds = {interval}
concurrency = {concurrency}
lease_seconds = 2
checks = [ {{ kind = "exec", command = {role(check, log, *check_args)}{extra} }} ]
"""
    if fix:
        text += f'fix = {{ kind = "exec", command = {role(fix, log)} }}\n'
    return APP + text


def calls(log, who=None):
    if not log.exists():
        return []
    out = [json.loads(l) for l in log.read_text().splitlines() if l.strip()]
    return [c for c in out if who is None or c["role"] == who]


def status(server, token):
    r = server.request("GET", "/v1/apps/demo/reconcilers/payments", token)
    assert r.status_code == 200, r.text
    return r.json()


def create_payments(server, token, docs):
    for doc in docs:
        r = server.request("POST", "/v1/apps/demo/models/payment?wait=1", token, doc)
        assert r.status_code == 201, r.text


def test_failed_checks_are_fixed_through_the_write_path_and_shown(make_server, ws_clients, tmp_path):
    log = tmp_path / "calls.jsonl"
    server = make_server(reconciler_config(log)).start()
    t = server.token()
    c = watcher(server, ws_clients, "payment")
    create_payments(server, t, [{"id": "good", "status": "pending", "amount": 5},
                                {"id": "bad", "status": "pending", "amount": -3},
                                {"id": "other", "status": "done", "amount": -1}])
    c.deliveries(3)
    (fixed,) = c.deliveries(1, timeout=30)  # the fix's patch, delivered like any change
    assert fixed["event"] == "model_updated" and fixed["data"][0]["path"] == "/amount" and fixed["data"][0]["value"] == 0
    assert server.request("GET", "/v1/apps/demo/models/payment/bad", t).json()["amount"] == 0
    s = wait_for(lambda: (lambda s: s if s["counts"]["fixed"] == 1 and s["counts"]["ok"] == 1 else None)(status(server, t)),
                 what="the reconciler's results")
    assert s["name"] == "payments" and s["interval_seconds"] == 1 and isinstance(s["last_run"], int)
    items = {i["id"]: i for i in s["items"]}
    assert set(items) == {"good", "bad"}  # the filter leaves "other" out
    assert items["good"]["status"] == "ok" and items["good"]["error"] is None
    assert items["bad"]["status"] == "fixed" and "negative amount" in items["bad"]["error"]
    fix_calls = calls(log, "zero")
    assert fix_calls[0]["request"]["document"]["id"] == "bad" and fix_calls[0]["request"]["errors"][0]["error"] == "negative amount"
    check = calls(log, "amount")[0]["request"]
    assert check["reconciler"] == "payments" and check["check"] == "1"
    metrics = requests.get(server.url + "/metrics", timeout=5).text
    assert 'sluice_reconciler_documents_total{reconciler="payments",status="fixed"} 1' in metrics
    assert 'sluice_reconciler_runs_total{reconciler="payments"}' in metrics


def test_only_due_documents_are_checked_also_across_a_restart(make_server, tmp_path):
    """The seed's Sync checked the wrong documents. With an hour's interval a run checks only what
    was never synced; a restart runs at once, and again checks only what is due."""
    log = tmp_path / "calls.jsonl"
    server = make_server(reconciler_config(log, interval=3600)).start()
    t = server.token()
    wait_for(lambda: status(server, t)["last_run"], what="the first run")  # before any document
    create_payments(server, t, [{"id": f"p{i}", "status": "pending", "amount": i} for i in range(2)])
    server.terminate()
    server.start()
    wait_for(lambda: len(status(server, t)["items"]) == 2, what="p0 and p1 checked")
    create_payments(server, t, [{"id": "p2", "status": "pending", "amount": 2}])
    server.terminate()
    server.start()
    wait_for(lambda: len(status(server, t)["items"]) == 3, what="p2 checked")
    time.sleep(1)
    checked = sorted(c["request"]["document"]["id"] for c in calls(log, "amount"))
    assert checked == ["p0", "p1", "p2"], checked  # each once: none was due twice


def test_checks_run_with_bounded_concurrency_and_a_timeout_each(make_server, tmp_path):
    log = tmp_path / "calls.jsonl"
    server = make_server(reconciler_config(log, check="slow", check_args=(0.6,), fix=None, concurrency=2)).start()
    t = server.token()
    create_payments(server, t, [{"id": f"s{i}", "status": "pending"} for i in range(6)])
    wait_for(lambda: len(status(server, t)["items"]) == 6, timeout=30, what="six documents checked")
    spans = [(c["start"], c["end"]) for c in calls(log, "slow")]
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most == 2, spans


def test_a_check_that_hangs_fails_the_document_after_its_timeout(make_server, tmp_path):
    log = tmp_path / "calls.jsonl"
    server = make_server(reconciler_config(log, check="hang", fix=None, extra=", timeout_ms = 300")).start()
    t = server.token()
    create_payments(server, t, [{"id": "h", "status": "pending"}])
    s = wait_for(lambda: (lambda s: s if s["items"] else None)(status(server, t)), what="a result")
    assert s["items"][0]["status"] == "failed" and "300 ms" in s["items"][0]["error"], s
    assert s["counts"] == {"ok": 0, "fixed": 0, "failed": 1}


def test_a_fix_that_refuses_leaves_the_document_failed(make_server, tmp_path):
    log = tmp_path / "calls.jsonl"
    server = make_server(reconciler_config(log, fix="refuse")).start()
    t = server.token()
    create_payments(server, t, [{"id": "n", "status": "pending", "amount": -1}])
    s = wait_for(lambda: (lambda s: s if s["items"] else None)(status(server, t)), what="a result")
    assert s["items"][0]["status"] == "failed" and "cannot fix" in s["items"][0]["error"], s
    assert server.request("GET", "/v1/apps/demo/models/payment/n", t).json()["amount"] == -1


def test_an_unknown_reconciler_is_404_and_another_apps_token_403(make_server, tmp_path):
    server = make_server(reconciler_config(tmp_path / "calls.jsonl") + '[apps.other]\nsecret = "other-secret-of-enough-length"\n').start()
    r = server.request("GET", "/v1/apps/demo/reconcilers/nope", server.token())
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = server.request("GET", "/v1/apps/demo/reconcilers/payments", server.token(app="other"))
    assert r.status_code == 403


@pytest.mark.parametrize("body, expected", [
    ('model = "m"\nchecks = [ { kind = "exec", command = ["true"] } ]\n', ["reconcilers.r.app"]),
    ('app = "demo"\nmodel = "m"\n', ["reconcilers.r.checks"]),
    ('app = "demo"\nmodel = "m"\nchecks = [ { kind = "exec" } ]\n', ["reconcilers.r.checks[0].command"]),
    ('app = "demo"\nmodel = "m"\nchecks = [ { kind = "exec", command = ["true"], colour = 1 } ]\n', ["reconcilers.r.checks[0].colour", "unknown key"]),
    ('app = "demo"\nmodel = "m"\nchecks = [ { kind = "cpp", function = "nope" } ]\n', ["reconcilers.r.checks[0].function", "nope"]),
    ('app = "demo"\nmodel = "m"\nchecks = [ { kind = "exec", command = ["true"] } ]\nfix = { kind = "webhook" }\n', ["reconcilers.r.fix.url"]),
    ('app = "demo"\nmodel = "m"\nfilter = { n = { "$bad" = 1 } }\nchecks = [ { kind = "exec", command = ["true"] } ]\n', ["reconcilers.r.filter", "$bad"]),
    ('app = "demo"\nmodel = "m"\ninterval_seconds = 0\nchecks = [ { kind = "exec", command = ["true"] } ]\n', ["reconcilers.r.interval_seconds"]),
], ids=["no-app", "no-checks", "exec-no-command", "unknown-key", "cpp-unregistered", "fix-no-url", "bad-filter", "zero-interval"])
def test_a_bad_reconciler_stops_start_up_naming_the_key(sluice_bin, tmp_path, body, expected):
    f = tmp_path / "sluice.toml"
    f.write_text("[reconcilers.r]\n" + body)
    r = subprocess.run([sluice_bin, "serve", "--config", str(f), "--data", str(tmp_path / "data"), "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr)
    for text in expected:
        assert text in r.stderr, (text, r.stderr)
