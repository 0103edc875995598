"""Tests of reconciler {{name}}: check and fix as Sluice runs them, children speaking JSON Lines.
Run: python3 -m unittest discover -s {{dir}}"""
import json
import pathlib
import subprocess
import sys
import unittest

PROGRAM = pathlib.Path(__file__).resolve().parent / "{{name}}.py"


def exchange(role, request):
    line = json.dumps(dict(request, id="1")) + "\n"
    out = subprocess.run([sys.executable, str(PROGRAM), role], input=line, capture_output=True, text=True, timeout=30, check=True)
    reply = json.loads(out.stdout)
    assert reply.pop("id") == "1"
    return reply


class Test{{ident}}(unittest.TestCase):
    def test_a_sound_document_passes(self):
        self.assertEqual(exchange("check", {"reconciler": "{{name}}", "check": "1", "document": {"id": "a"}}), {"ok": True})

    def test_a_broken_document_fails_and_is_fixed(self):
        doc = {"id": "b", "broken": True}
        failed = exchange("check", {"reconciler": "{{name}}", "check": "1", "document": doc})
        self.assertFalse(failed["ok"])
        fixed = exchange("fix", {"reconciler": "{{name}}", "document": doc, "errors": [{"check": "1", "error": failed["error"]}]})
        self.assertEqual(fixed, {"ok": True, "patch": [{"op": "remove", "path": "/broken"}]})


if __name__ == "__main__":
    unittest.main()
