"""Tests of stage {{name}}: the program as Sluice runs it, a child speaking JSON Lines.
Run: python3 -m unittest discover -s {{dir}}"""
import json
import pathlib
import subprocess
import sys
import unittest

PROGRAM = pathlib.Path(__file__).resolve().parent / "{{name}}.py"


class Test{{ident}}(unittest.TestCase):
    def exchange(self, *messages):
        lines = "".join(json.dumps({"id": str(i), "stage": "{{name}}", "attempt": 1, "message": m}) + "\n"
                        for i, m in enumerate(messages))
        out = subprocess.run([sys.executable, str(PROGRAM)], input=lines, capture_output=True, text=True, timeout=30, check=True)
        replies = [json.loads(l) for l in out.stdout.splitlines()]
        self.assertEqual([r["id"] for r in replies], [str(i) for i in range(len(messages))])
        return replies

    def test_a_created_document_is_marked(self):
        (reply,) = self.exchange({"event": "model_created", "app": "demo", "model": "task", "id": "t1", "data": {"title": "x"}})
        self.assertEqual(reply["action"], "next")
        self.assertEqual(reply["message"]["data"], {"title": "x", "checked_by": "{{name}}"})

    def test_other_messages_go_on_unchanged(self):
        (reply,) = self.exchange({"event": "model_updated", "patch": []})
        self.assertEqual(reply, {"id": "0", "action": "next"})


if __name__ == "__main__":
    unittest.main()
