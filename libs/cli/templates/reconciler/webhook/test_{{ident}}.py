"""Tests of reconciler {{name}}: check and fix as Sluice calls them, over HTTP.
Run: python3 -m unittest discover -s {{dir}}"""
import json
import pathlib
import socket
import subprocess
import sys
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

    def post(self, path, body):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/{{name}}/{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    def test_a_sound_document_passes(self):
        self.assertEqual(self.post("check", {"reconciler": "{{name}}", "check": "1", "document": {"id": "a"}}), {"ok": True})

    def test_a_broken_document_fails_and_is_fixed(self):
        doc = {"id": "b", "broken": True}
        failed = self.post("check", {"reconciler": "{{name}}", "check": "1", "document": doc})
        self.assertFalse(failed["ok"])
        fixed = self.post("fix", {"reconciler": "{{name}}", "document": doc, "errors": [{"check": "1", "error": failed["error"]}]})
        self.assertEqual(fixed, {"ok": True, "patch": [{"op": "remove", "path": "/broken"}]})


if __name__ == "__main__":
    unittest.main()
