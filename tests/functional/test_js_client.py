"""The JavaScript client (clients/js) in Node against a real `sluice serve`: its own test suite
(clients/js/test/client.test.js, node:test), run against the program under test."""
import os
import subprocess

from conftest import ROOT, SLUICE


def test_the_javascript_client_suite_passes():
    js = ROOT / "clients" / "js"
    assert (js / "node_modules" / "ws").exists(), "clients/js dependencies missing: run scripts/install-deps.sh"
    r = subprocess.run(["node", "--test", "--test-reporter=spec", str(js / "test" / "client.test.js")], cwd=js,
                       env=dict(os.environ, SLUICE_BIN=str(SLUICE)), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert "# fail 0" in r.stdout or "ℹ fail 0" in r.stdout, r.stdout[-3000:]
