"""Authentication and access control (DESIGN.md §7 "Auth")."""
import subprocess
import time

from conftest import b64url, make_jwt

APPS = """
[apps.demo]
secret = "{secret}"
[apps.demo.models.diary]
access = "owner"

[apps.other]
secret = "another-secret-of-enough-length"

[apps.rsa]
public_key_file = "{public_key}"
"""


def configured(make_server, tmp_path):
    key = tmp_path / "rsa.pem"
    pub = tmp_path / "rsa.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    server = make_server(APPS.format(secret="demo-secret-of-enough-length", public_key=pub)).start()
    return server, key, pub


def rs256(payload, key_file):
    import json
    signing_input = f"{b64url(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}.{b64url(json.dumps(payload).encode())}"
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_file)], input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    return f"{signing_input}.{b64url(sig)}"


def claims(app="demo", user="alice", device="d1", exp_in=3600):
    return {"app": app, "sub": user, "device": device, "exp": int(time.time()) + exp_in}


def test_missing_wrong_app_expired_and_forged_tokens(make_server, tmp_path):
    server, key, pub = configured(make_server, tmp_path)
    path = "/v1/apps/demo/models/task"
    assert server.request("POST", path, None, {"a": 1}).status_code == 401
    r = server.request("POST", path, server.token(app="other"), {"a": 1})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert server.request("POST", path, server.token(), {"a": 1}).status_code == 202
    secret = "demo-secret-of-enough-length"
    assert server.request("POST", path, make_jwt(claims(), secret), {"a": 1}).status_code == 202
    expired = server.request("POST", path, make_jwt(claims(exp_in=-120), secret), {"a": 1})
    assert expired.status_code == 401 and expired.json()["error"] == "token_expired"
    no_exp = {k: v for k, v in claims().items() if k != "exp"}
    assert server.request("POST", path, make_jwt(no_exp, secret), {"a": 1}).status_code == 401
    assert server.request("POST", path, make_jwt(claims(), "wrong-secret-xxxxxxxxxxxx"), {"a": 1}).status_code == 401
    assert server.request("POST", path, make_jwt(claims(), "", alg="none"), {"a": 1}).status_code == 401
    assert server.request("POST", path, "not.a.jwt", {"a": 1}).status_code == 401
    # RS256 app: a real signature passes, an HS256 token keyed with the public key does not.
    rsa_path = "/v1/apps/rsa/models/task"
    assert server.request("POST", rsa_path, rs256(claims(app="rsa"), key), {"a": 1}).status_code == 202
    forged = make_jwt(claims(app="rsa"), pub.read_bytes())
    assert server.request("POST", rsa_path, forged, {"a": 1}).status_code == 401
    assert server.request("POST", rsa_path, make_jwt(claims(app="rsa"), "", alg="none"), {"a": 1}).status_code == 401


def test_owner_access_is_enforced(make_server, tmp_path, ws_clients):
    server, _, _ = configured(make_server, tmp_path)
    alice, bob = server.token("alice", "a1"), server.token("bob", "b1")
    r = server.request("POST", "/v1/apps/demo/models/diary?wait=1", alice, {"id": "d1", "text": "secret"})
    assert r.status_code == 201 and r.json()["owner"] == "alice"
    server.request("POST", "/v1/apps/demo/models/diary?wait=1", bob, {"id": "d2", "text": "bob's"})
    assert server.request("GET", "/v1/apps/demo/models/diary/d1", alice).status_code == 200
    assert server.request("GET", "/v1/apps/demo/models/diary/d1", bob).status_code == 403
    assert server.request("PATCH", "/v1/apps/demo/models/diary/d1", bob, [{"op": "remove", "path": "/text"}]).status_code == 403
    assert server.request("DELETE", "/v1/apps/demo/models/diary/d1", bob).status_code == 403
    found = server.request("POST", "/v1/apps/demo/models/diary/query", bob, {}).json()["items"]
    assert [d["id"] for d in found] == ["d2"]
    assert server.request("POST", "/v1/apps/demo/subscriptions", bob, {"model": "diary"}).status_code == 403
    assert server.request("POST", "/v1/apps/demo/subscriptions", bob, {"model": "diary", "user": "alice"}).status_code == 403
    ok = server.request("POST", "/v1/apps/demo/subscriptions", bob, {"model": "diary", "user": "bob"})
    assert ok.status_code == 200 and [d["id"] for d in ok.json()["items"]] == ["d2"]
    c = ws_clients(server.ws_url)
    c.register(bob)
    c.send("subscribe", {"model": "diary"})
    assert c.recv_event("error")["data"]["code"] == "forbidden"


def test_websocket_rejects_bad_tokens_and_closes_on_expiry(make_server, tmp_path, ws_clients):
    server, _, _ = configured(make_server, tmp_path)
    c = ws_clients(server.ws_url)
    c.send("subscribe", {"model": "task"})
    assert c.recv_event("error")["data"]["code"] == "not_registered"
    reg = c.register(make_jwt(claims(exp_in=-120), "demo-secret-of-enough-length"))
    assert reg["data"]["success"] is False
    assert c.closed_code() == 4002
    c2 = ws_clients(server.ws_url)
    c2.register(make_jwt(claims(), "forged-secret-xxxxxxxxxxxxxx"))
    assert c2.closed_code() == 4001
    # A token that expires while connected closes the socket with 4002 unless refreshed.
    c3 = ws_clients(server.ws_url)
    assert c3.register(make_jwt(claims(exp_in=2), "demo-secret-of-enough-length"))["data"]["success"] is True
    c4 = ws_clients(server.ws_url)
    assert c4.register(make_jwt(claims(device="d4", exp_in=2), "demo-secret-of-enough-length"))["data"]["success"] is True
    c4.send("refresh_access_token", {"token": make_jwt(claims(device="d4", exp_in=600), "demo-secret-of-enough-length")})
    assert c4.recv_event("refresh_access_token")["data"]["success"] is True
    assert c3.closed_code(timeout=15) == 4002
    c4.send("subscribe", {"model": "task"})
    assert c4.recv_event("subscribed")["data"]["channel"] == "app:demo:model:task"


def test_logout_closes_the_device_with_4001(server, ws_clients):
    t = server.token("alice", "laptop")
    c = ws_clients(server.ws_url)
    c.register(t)
    c.subscribe(model="task")
    assert server.request("POST", "/v1/logout", t).status_code == 200
    assert c.closed_code() == 4001


def test_a_token_from_sluice_token_expires_after_its_ttl(server):
    t = server.token("alice", "short", ttl=1)
    assert server.request("GET", "/v1/apps/demo/models/task/none", t).status_code == 404
    time.sleep(2.2)
    r = server.request("GET", "/v1/apps/demo/models/task/none", t)
    assert r.status_code == 401 and r.json()["error"] == "token_expired"
