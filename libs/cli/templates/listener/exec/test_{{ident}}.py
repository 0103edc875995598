"""Tests of listener {{name}}: the program as Sluice runs it, a child speaking JSON Lines.
Run: python3 -m unittest discover -s {{dir}}"""
import json
import pathlib
import subprocess
import sys
import unittest

PROGRAM = pathlib.Path(__file__).resolve().parent / "{{name}}.py"
ENVELOPE = {"op": "01J", "event": "model_created", "app": "demo", "model": "task", "id": "t1", "owner": "alice",
            "actor": "alice", "ts": 0, "version": 1, "before": None, "after": {"id": "t1", "title": "x"}}


class Test{{ident}}(unittest.TestCase):
    def test_a_change_is_handled_and_acknowledged(self):
        line = json.dumps({"id": "1", "stage": "{{name}}", "attempt": 1, "message": ENVELOPE}) + "\n"
        out = subprocess.run([sys.executable, str(PROGRAM)], input=line, capture_output=True, text=True, timeout=30, check=True)
        self.assertEqual(json.loads(out.stdout), {"id": "1", "action": "done"})
        self.assertIn("{{name}}: model_created demo/task/t1", out.stderr)


if __name__ == "__main__":
    unittest.main()
