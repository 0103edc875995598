"""Web apps on another origin (DESIGN.md §7, `[http] cors_origins`): preflights answered without a
token, `Access-Control-Allow-Origin` on every answer to a listed origin (errors and SSE included),
WebSocket upgrades from an origin not listed refused; then a real page in headless chromium on a
second origin writing with fetch and listening with the JavaScript client and EventSource."""
import functools
import json
import os
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import websockets.exceptions

from conftest import ROOT, Ws, free_port

PAGE_DIR = ROOT / "tests" / "functional" / "browser"
APP = "https://app.example.com"


def cors_server(make_server, origins, env=None):
    return make_server(f"[http]\ncors_origins = {json.dumps(origins)}\n", env=env).start()


def test_a_preflight_is_answered_without_a_token(make_server):
    server = cors_server(make_server, [APP])
    r = requests.options(server.url + "/v1/apps/demo/models/task", timeout=10,
                         headers={"Origin": APP, "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == APP
    assert "Origin" in r.headers["Vary"]
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        assert method in r.headers["Access-Control-Allow-Methods"]
    allowed = r.headers["Access-Control-Allow-Headers"].lower()
    assert all(h in allowed for h in ("authorization", "content-type", "last-event-id"))
    assert int(r.headers["Access-Control-Max-Age"]) > 0
    r = requests.options(server.url + "/v1/apps/demo/models/task", headers={"Origin": "https://evil.example"}, timeout=10)
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers


def test_every_answer_to_a_listed_origin_carries_it_errors_and_sse_included(make_server):
    server = cors_server(make_server, [APP, "http://localhost:3000"])
    t = server.token()
    h = {"Origin": APP, "Authorization": f"Bearer {t}"}
    ok = requests.post(server.url + "/v1/apps/demo/models/task?wait=1", json={"id": "c1"}, headers=h, timeout=10)
    assert ok.status_code == 201 and ok.headers["Access-Control-Allow-Origin"] == APP and "Origin" in ok.headers["Vary"]
    for r in (requests.get(server.url + "/v1/apps/demo/models/task/missing", headers=h, timeout=10),
              requests.post(server.url + "/v1/apps/demo/models/task", data="{nope", headers=h, timeout=10),
              requests.get(server.url + "/v1/apps/demo/models/task/c1", headers={"Origin": APP}, timeout=10)):  # no token: 401
        assert r.status_code >= 400 and r.headers["Access-Control-Allow-Origin"] == APP, (r.status_code, r.headers)
        assert r.json()["error"]
    other = requests.get(server.url + "/v1/apps/demo/models/task/c1", headers={"Origin": "http://localhost:3000", "Authorization": f"Bearer {t}"}, timeout=10)
    assert other.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    unlisted = requests.get(server.url + "/v1/apps/demo/models/task/c1", headers={"Origin": "https://evil.example", "Authorization": f"Bearer {t}"}, timeout=10)
    assert unlisted.status_code == 200 and "Access-Control-Allow-Origin" not in unlisted.headers
    with requests.get(server.url + f"/v1/sse?token={t}", headers={"Origin": APP}, stream=True, timeout=10) as sse:
        assert sse.status_code == 200 and sse.headers["Access-Control-Allow-Origin"] == APP
    with requests.get(server.url + "/v1/sse?token=forged", headers={"Origin": APP}, timeout=10) as refused:
        assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == APP


def test_a_websocket_from_an_origin_not_listed_is_refused(make_server):
    server = cors_server(make_server, [APP])
    with pytest.raises(websockets.exceptions.InvalidStatusCode) as refused:
        Ws(server.ws_url, origin="https://evil.example")
    assert refused.value.status_code == 403
    listed = Ws(server.ws_url, origin=APP)
    assert listed.register(server.token())["data"]["success"] is True
    listed.close()
    plain = Ws(server.ws_url)  # no Origin (not a browser): unaffected
    assert plain.register(server.token("bob", "cli"))["data"]["success"] is True
    plain.close()


def test_any_origin_with_a_star_and_nothing_listed_by_default(make_server, server):
    star = cors_server(make_server, ["*"])
    r = requests.options(star.url + "/v1/apps/demo/models/task", headers={"Origin": "https://anyone.example", "Access-Control-Request-Method": "PUT"}, timeout=10)
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == "https://anyone.example"
    # The default: no CORS headers at all, and OPTIONS is just another method of the API.
    r = requests.get(server.url + "/v1/apps/demo/models/task/x", headers={"Origin": APP}, timeout=10)
    assert "Access-Control-Allow-Origin" not in r.headers
    assert requests.options(server.url + "/v1/apps/demo/models/task", headers={"Origin": APP}, timeout=10).status_code == 401
    ws = Ws(server.ws_url, origin="https://evil.example")  # no list: no check
    ws.close()


def test_the_environment_sets_the_list(make_server):
    server = make_server(env={"SLUICE_HTTP_CORS_ORIGINS": f"{APP}, http://127.0.0.1:5173"}).start()
    r = requests.options(server.url + "/v1/apps/demo/models/task", headers={"Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "POST"}, timeout=10)
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"


@pytest.mark.parametrize("value, env", [
    ('["app.example.com"]', None), ('["https://app.example.com/"]', None), ('["ftp://x.example"]', None),
    ('["https://x.example:99999"]', None), ('"https://app.example.com"', None), (None, "https://ok.example,not an origin"),
], ids=["no-scheme", "path", "scheme", "port", "not-a-list", "env"])
def test_a_bad_origin_stops_start_up_naming_the_key(sluice_bin, tmp_path, value, env):
    args = [sluice_bin, "serve", "--data", str(tmp_path / "data"), "--listen", "127.0.0.1:0"]
    if value is not None:
        (tmp_path / "sluice.toml").write_text(f"[http]\ncors_origins = {value}\n")
        args += ["--config", str(tmp_path / "sluice.toml")]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, **({"SLUICE_HTTP_CORS_ORIGINS": env} if env else {})))
    assert r.returncode == 2 and "http.cors_origins" in r.stderr, (r.returncode, r.stderr)


# ----- in a real browser -------------------------------------------------------------------------

class StaticSite:
    """A second origin: tests/functional/browser/ at /, the JavaScript client at /client/."""

    def __init__(self):
        class Handler(SimpleHTTPRequestHandler):
            def translate_path(self, path):
                path = path.split("?", 1)[0]
                if path.startswith("/client/"):
                    return str(ROOT / "clients" / "js" / "src" / path[len("/client/"):])
                return str(PAGE_DIR / path.lstrip("/"))

            def log_message(self, *args):
                pass

        Handler.extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def open_page(site, server, token):
    url = f"{site.origin}/page.html?sluice={server.url}&token={token}"
    env = dict(os.environ, NODE_PATH=str(ROOT / "tests" / "oracles" / "node_modules"))
    r = subprocess.run(["node", str(PAGE_DIR / "run_page.js"), url], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.splitlines()[-1])


def test_a_page_on_a_listed_origin_writes_queries_and_listens(make_server):
    site = StaticSite()
    try:
        server = cors_server(make_server, [site.origin])
        out = open_page(site, server, server.token("ann", "browser"))
        steps = out["results"]["steps"]
        assert all(s["ok"] for s in steps.values()), steps
        assert steps["client"]["value"] == "app:demo:model:note"
        assert steps["create"]["value"]["status"] == 201 and steps["create"]["value"]["body"]["title"] == "from the page"
        assert steps["patch"]["value"]["status"] == 200 and steps["patch"]["value"]["body"]["title"] == "patched"
        assert [d["id"] for d in steps["query"]["value"]["body"]["items"]] == ["n1"]
        assert steps["error"]["value"] == {"status": 404, "body": {"error": "not_found", "message": steps["error"]["value"]["body"]["message"]}}
        assert steps["delivered"]["value"]["client"][:2] == ["model_created", "model_updated"]
        assert steps["delivered"]["value"]["sse"] == ["n1"]
        # The one error the console shows is the 404 the page asked for (the "error" step).
        unexpected = [e for e in out["consoleErrors"] if "status of 404" not in e]
        assert unexpected == [], out["consoleErrors"]
    finally:
        site.close()


def test_a_page_on_an_origin_not_listed_is_refused_everything(make_server):
    site = StaticSite()
    try:
        server = cors_server(make_server, ["https://app.example.com"])
        out = open_page(site, server, server.token("eve", "browser"))
        steps = out["results"]["steps"]
        for name in ("client", "sse", "create", "patch", "query", "error"):
            assert steps[name]["ok"] is False, (name, steps[name])
        assert server.request("GET", "/v1/apps/demo/models/note/n1", server.token()).status_code == 404  # nothing was written
    finally:
        site.close()
