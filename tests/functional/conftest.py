"""Shared fixtures for the black-box functional tests: they drive the real `sluice` binary only
through its documented interfaces (command line, HTTP, WebSocket)."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests
import websockets

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = pathlib.Path(os.environ.get("SLUICE_BIN", ROOT / "build" / "bin" / "sluice"))


@pytest.fixture(scope="session")
def sluice_bin():
    if not SLUICE.exists():
        pytest.fail(f"sluice binary not found at {SLUICE}; run `make build` first")
    return str(SLUICE)


# What AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer and ThreadSanitizer print when
# they report (`make test-asan`, `make test-tsan`); never in a clean run's log.
SANITIZER_REPORT = re.compile(r"(ERROR|WARNING|SUMMARY): \w*Sanitizer|^\S+:\d+:\d+: runtime error: ", re.MULTILINE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """What tests do as a user of a deployment: mint tokens with `sluice token` and send HTTP
    requests. Needs `url`, `data_dir`, `config` (or None), `env` and an `http` session."""

    def token(self, user="alice", device="dev-1", app="demo", ttl=3600):
        args = [str(SLUICE), "token", "--app", app, "--user", user, "--device", device, "--ttl", str(ttl), "--data", str(self.data_dir)]
        if self.config:
            args += ["--config", str(self.config)]
        out = subprocess.run(args, capture_output=True, text=True, check=True, env=self.env)
        return out.stdout.strip()

    def request(self, method, path, token=None, body=None, raw=None, **kw):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.http.request(method, self.url + path, headers=headers, data=data, timeout=30, **kw)


class Server(Client):
    """One `sluice serve` process on a free port with its own data directory."""

    def __init__(self, data_dir, config=None, env=None):
        self.data_dir = pathlib.Path(data_dir)
        self.port = free_port()
        self.config = config
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.http = requests.Session()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    def start(self):
        args = [str(SLUICE), "serve", "--listen", f"127.0.0.1:{self.port}", "--data", str(self.data_dir)]
        if self.config:
            args += ["--config", str(self.config)]
        self.log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluice serve exited with {self.proc.returncode}: {self.read_log()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError("sluice serve did not become healthy: " + self.read_log())

    def read_log(self):
        return (self.data_dir.parent / f"{self.data_dir.name}.log").read_text(errors="replace")

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout=20):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self):
        """Stops the server (SIGTERM) if it runs; then fails if it did not exit cleanly or if its log
        holds a sanitizer report (from this run or an earlier one in the same data directory)."""
        if self.proc is None:
            return
        code = self.terminate() if self.proc.poll() is None else None
        log = self.read_log()
        report = SANITIZER_REPORT.search(log)
        where = self.data_dir.parent / f"{self.data_dir.name}.log"
        if report:  # the report's first 150 lines, each cut (Boost frames run to pages)
            lines = log[log.rfind("\n", 0, max(0, report.start() - 200)) + 1:].splitlines()[:150]
            excerpt = "\n".join(l if len(l) <= 240 else l[:240] + " ..." for l in lines)
            pytest.fail(f"sluice serve reported a sanitizer error (whole log: {where}):\n{excerpt}", pytrace=False)
        if code not in (None, 0):
            pytest.fail(f"sluice serve exited with {code} on SIGTERM (log: {where}):\n{log[-4000:]}", pytrace=False)



@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data").start()
    yield s
    s.stop()


@pytest.fixture
def make_server(tmp_path):
    """Builds servers with custom config/env; stops them all at the end."""
    made = []

    def make(config_text=None, env=None, name="data"):
        config = None
        if config_text is not None:
            config = tmp_path / f"{name}.toml"
            config.write_text(config_text)
        s = Server(tmp_path / name, config=config, env=env)
        made.append(s)
        return s

    yield make
    failures = []
    for s in made:
        try:
            s.stop()
        except BaseException as e:  # pytest.fail: stop the others first
            failures.append(e)
    if failures:
        raise failures[0]


# ----- WebSocket client: a synchronous wrapper over the asyncio `websockets` client ----------------

class _Loop:
    loop = None

    @classmethod
    def get(cls):
        if cls.loop is None:
            cls.loop = asyncio.new_event_loop()
            threading.Thread(target=cls.loop.run_forever, daemon=True).start()
        return cls.loop


def _run(coro, timeout=30):
    return asyncio.run_coroutine_threadsafe(coro, _Loop.get()).result(timeout)


class Ws:
    def __init__(self, url, **kw):
        async def connect():
            return await websockets.connect(url, max_size=None, **kw)

        self.ws = _run(connect())
        self.received = []

    def send(self, event, data=None):
        _run(self.ws.send(json.dumps({"event": event, "data": data if data is not None else {}})))

    def send_raw(self, payload):
        _run(self.ws.send(payload))

    def recv(self, timeout=10):
        msg = json.loads(_run(asyncio.wait_for(self.ws.recv(), timeout), timeout + 5))
        self.received.append(msg)
        return msg

    def recv_event(self, event, timeout=10):
        deadline = time.time() + timeout
        while True:
            msg = self.recv(max(0.1, deadline - time.time()))
            if msg["event"] == event:
                return msg

    def deliveries(self, count, timeout=30):
        """The next `count` messages that carry a `seq`."""
        out = []
        deadline = time.time() + timeout
        while len(out) < count:
            msg = self.recv(max(0.1, deadline - time.time()))
            if "seq" in msg:
                out.append(msg)
        return out

    def register(self, token, resume_from=None):
        data = {"token": token}
        if resume_from is not None:
            data["resume_from"] = resume_from
        self.send("register", data)
        return self.recv_event("register")

    def subscribe(self, **sub):
        self.send("subscribe", sub)
        return self.recv_event("subscribed")

    def closed_code(self, timeout=10):
        """Reads until the server closes; returns the close code."""
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                _run(asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.time())), timeout + 5)
        except websockets.ConnectionClosed as e:
            return e.code
        return None

    def close(self):
        try:
            _run(self.ws.close(), 10)
        except Exception:
            pass


@pytest.fixture
def ws_clients():
    opened = []

    def connect(url, **kw):
        c = Ws(url, **kw)
        opened.append(c)
        return c

    yield connect
    for c in opened:
        c.close()


# ----- hand-made JWTs (for forged, expired and confused tokens) ----------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(payload, key, alg="HS256"):
    header = {"alg": alg, "typ": "JWT"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    if alg == "none":
        return signing_input + "."
    sig = hmac.new(key if isinstance(key, bytes) else key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(sig)}"
