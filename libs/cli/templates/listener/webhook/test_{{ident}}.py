"""Tests of listener {{name}}: the server as Sluice calls it, over HTTP.
Run: python3 -m unittest discover -s {{dir}}"""
import json
import pathlib
import socket
import subprocess
import sys
import unittest
import urllib.request

PROGRAM = pathlib.Path(__file__).resolve().parent / "{{name}}.py"
ENVELOPE = {"op": "01J", "event": "model_created", "app": "demo", "model": "task", "id": "t1", "owner": "alice",
            "actor": "alice", "ts": 0, "version": 1, "before": None, "after": {"id": "t1", "title": "x"}}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Test{{ident}}(unittest.TestCase):
    def test_a_change_is_handled_and_acknowledged(self):
        port = free_port()
        server = subprocess.Popen([sys.executable, str(PROGRAM), "--port", str(port)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            server.stdout.readline()  # "... listening on ...": it is up
            request = urllib.request.Request(f"http://127.0.0.1:{port}/{{name}}", data=json.dumps(ENVELOPE).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as r:
                self.assertEqual((r.status, json.loads(r.read())), (200, {"action": "done"}))
        finally:
            server.kill()
            _, err = server.communicate()
        self.assertIn("{{name}}: model_created demo/task/t1", err)


if __name__ == "__main__":
    unittest.main()
