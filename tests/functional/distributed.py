"""The distributed shape for functional tests: real RabbitMQ, PostgreSQL and Redis (or a Redis
Cluster) started by scripts/servers/*.sh on loopback (once per test module), and per test a deployment of separate sluice
processes (`sluice api` x2, `sluice stage writer` x2, `transport-manager` x2,
`websockets-transport` x2) on a fresh vhost, database and Redis."""
import itertools
import os
import pathlib
import signal
import subprocess
import time

import psycopg
import pytest
import requests

from conftest import ROOT, SANITIZER_REPORT, SLUICE, Client, free_port

SERVERS = ROOT / "scripts" / "servers"


def _env_file(path):
    return dict(line.strip().split("=", 1) for line in pathlib.Path(path).read_text().splitlines() if "=" in line)


class Backends:
    """One RabbitMQ, one PostgreSQL and one Redis (or a 3-master Redis Cluster, `registry` =
    "redis-cluster") for a whole test module."""

    def __init__(self, root, registry="redis"):
        self.root = pathlib.Path(root)
        self.registry = registry
        self.started = []
        self.counter = itertools.count(1)

    def start(self):
        for name in ("postgres", self.registry, "rabbitmq"):
            d = self.root / name
            r = subprocess.run([str(SERVERS / f"{name}.sh"), "start", str(d)], capture_output=True, text=True, timeout=180)
            if r.returncode != 0:
                raise RuntimeError(f"{name}.sh start failed ({r.returncode}): {r.stderr[-3000:]}")
            self.started.append(name)
        self.rabbitmq = _env_file(self.root / "rabbitmq" / "env")["SLUICE_TEST_RABBITMQ_URL"]
        self.postgres = _env_file(self.root / "postgres" / "env")["SLUICE_TEST_POSTGRES_URL"]
        if self.registry == "redis":
            self.redis = [_env_file(self.root / "redis" / "env")["SLUICE_TEST_REDIS_URL"]]
        else:
            self.redis = _env_file(self.root / "redis-cluster" / "env")["SLUICE_TEST_REDIS_CLUSTER_URLS"].split(",")
        return self

    def restart_cluster_node(self, n):
        subprocess.run([str(SERVERS / "redis-cluster.sh"), "restart-node", str(n), str(self.root / "redis-cluster")],
                       check=True, capture_output=True, timeout=180)

    def ctl(self, name, *args):
        """Runs `<name>.sh ARGS... DIR` style control (stop, start, restart, kill)."""
        script = str(SERVERS / f"{name}.sh")
        subprocess.run([script, *args[:1], str(self.root / name), *args[1:]], check=True, capture_output=True, timeout=180)

    def stop(self):
        for name in reversed(self.started):
            verb = "cleanup" if name == "rabbitmq" else "stop"
            subprocess.run([str(SERVERS / f"{name}.sh"), verb, str(self.root / name)], capture_output=True, timeout=180)

    def fresh(self):
        """A vhost, a database and an empty Redis for one deployment."""
        n = next(self.counter)
        vhost = f"t{n}"
        self.ctl("rabbitmq", "ctl", "add_vhost", vhost)
        self.ctl("rabbitmq", "ctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        base = self.postgres.rsplit("/", 1)[0]  # postgresql://sluice@127.0.0.1:PORT
        port = base.rsplit(":", 1)[1]
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {vhost} OWNER sluice")
        for url in self.redis:
            subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1], "FLUSHALL"], check=True,
                           capture_output=True)
        if self.registry == "redis":
            registry = f'kind = "redis"\nurl = "{self.redis[0]}"\n'
        else:
            registry = f'kind = "redis-cluster"\nurls = [{", ".join(chr(34) + u + chr(34) for u in self.redis)}]\n'
        return {"vhost": vhost, "queue": self.rabbitmq.rsplit("/", 1)[0] + "/" + vhost, "store": f"{base}/{vhost}",
                "registry": registry}

    def forget(self, vhost):
        """Deletes a deployment's vhost and its queues (idle quorum queues pile up otherwise)."""
        self.ctl("rabbitmq", "ctl", "delete_vhost", vhost)


class Process:
    def __init__(self, deployment, name, args, port=None):
        self.deployment, self.name, self.args, self.port = deployment, name, args, port
        self.log_path = deployment.root / f"{name}.log"
        self.proc = None

    def start(self):
        args = [str(SLUICE), *self.args, "--config", str(self.deployment.config), "--data", str(self.deployment.data_dir)]
        if self.port:
            args += ["--listen", f"127.0.0.1:{self.port}"]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_healthy(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            if self.port is None:
                return self
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not become healthy: {self.log_path.read_text()[-3000:]}")

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        """SIGTERM; returns the exit code and the log's sanitizer report, if any."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
        else:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(30)
        return code


class Deployment(Client):
    """The processes of one distributed deployment. Looks like conftest.Server to tests: `url` and
    `ws_url` go round the API and websocket instances, so consecutive clients land on different
    processes."""

    # The API leaves every document check to the writer, so a failing patch is always dead-lettered
    # by it; how soon depends on the machine's load (test_bad_input.dead_letter_a_patch).
    dead_letter_wait = 30

    def __init__(self, root, backends, config_extra=""):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.root / "data"
        self.data_dir.mkdir(exist_ok=True)
        urls = backends.fresh()
        self.backends, self.vhost = backends, urls["vhost"]
        self.config = self.root / "sluice.toml"
        self.config.write_text(
            f'[queue]\nkind = "rabbitmq"\nurl = "{urls["queue"]}"\npartitions = 2\n'
            f'[store]\nkind = "postgres"\nurl = "{urls["store"]}"\n'
            f'[registry]\n{urls["registry"]}' + config_extra)
        self.processes = {}
        self.apis, self.sockets = [], []
        self.http = requests.Session()
        self.env = dict(os.environ)
        self._url = itertools.cycle([0])
        self._ws = itertools.cycle([0])

    def add(self, name, args, port=None):
        p = Process(self, name, args, port)
        self.processes[name] = p
        return p

    def start(self, apis=2, writers=2, managers=2, websockets=2, custom=None):
        """`custom`: {stage name: instances} of custom stages, each instance `sluice stage NAME`."""
        for i in range(apis):
            self.apis.append(self.add(f"api{i}", ["api"], free_port()))
        for i in range(writers):
            self.add(f"writer{i}", ["stage", "writer"])
        for i in range(managers):
            self.add(f"tm{i}", ["stage", "transport-manager"])
        for name, count in (custom or {}).items():
            for i in range(count):
                self.add(f"{name}{i}", ["stage", name])
        for i in range(websockets):
            self.sockets.append(self.add(f"ws{i}", ["stage", "websockets-transport"], free_port()))
        try:
            for p in self.processes.values():
                p.start()
            for p in self.processes.values():
                p.wait_healthy()
        except BaseException:
            for p in self.processes.values():
                if p.proc is not None and p.proc.poll() is None:
                    p.kill()
            raise
        self._url = itertools.cycle(range(len(self.apis)))
        self._ws = itertools.cycle(range(len(self.sockets)))
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.apis[next(self._url)].port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.sockets[next(self._ws)].port}/v1/ws"

    def read_log(self):
        return "\n".join(f"--- {n}\n{p.log_path.read_text(errors='replace')[-3000:]}" for n, p in self.processes.items())

    def stop(self):
        failures = []
        for name, p in self.processes.items():
            code = p.stop()
            log = p.log_path.read_text(errors="replace")
            if SANITIZER_REPORT.search(log):
                failures.append(f"{name} reported a sanitizer error (log: {p.log_path})")
            elif code not in (None, 0, -9):
                failures.append(f"{name} exited with {code} on SIGTERM (log: {p.log_path}):\n{log[-2000:]}")
        self.backends.forget(self.vhost)
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)


def backends_fixture(registry="redis"):
    """The module-scoped `backends` fixture of a test module: servers for every test in it."""

    @pytest.fixture(scope="module")
    def backends(tmp_path_factory):
        b = Backends(tmp_path_factory.mktemp("backends"), registry=registry)
        try:
            b.start()
        except BaseException:
            b.stop()
            raise
        yield b
        b.stop()

    return backends


@pytest.fixture
def server(backends, tmp_path):
    """A fresh deployment per test; overrides conftest's one-process server in the modules that
    import it."""
    d = Deployment(tmp_path / "deployment", backends).start()
    yield d
    d.stop()
