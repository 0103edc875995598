"""Tests of stage {{name}}: the server as Sluice calls it, over HTTP.
Run: python3 -m unittest discover -s {{dir}}"""
import json
import pathlib
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

PROGRAM = pathlib.Path(__file__).resolve().parent / "{{name}}.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Test{{ident}}(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.server = subprocess.Popen([sys.executable, str(PROGRAM), "--port", str(cls.port)], stdout=subprocess.PIPE, text=True)
        cls.server.stdout.readline()  # "... listening on ...": it is up

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.server.wait()

    def post(self, message):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/{{name}}", data=json.dumps(message).encode(),
                                         headers={"Content-Type": "application/json", "Sluice-Stage": "{{name}}", "Sluice-Attempt": "1"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())

    def test_a_created_document_is_marked(self):
        status, reply = self.post({"event": "model_created", "id": "t1", "data": {"title": "x"}})
        self.assertEqual(status, 200)
        self.assertEqual(reply["action"], "next")
        self.assertEqual(reply["message"]["data"], {"title": "x", "checked_by": "{{name}}"})

    def test_other_messages_go_on_unchanged(self):
        self.assertEqual(self.post({"event": "model_updated", "patch": []}), (200, {"action": "next"}))


if __name__ == "__main__":
    unittest.main()
