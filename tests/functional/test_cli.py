"""`sluice filter` and `sluice patch` as a user runs them from a shell."""
import json
import subprocess


def run(sluice_bin, *args, stdin=""):
    return subprocess.run([sluice_bin, *args], input=stdin, capture_output=True, text=True, timeout=30)


def lines(*docs):
    return "".join(json.dumps(d) + "\n" for d in docs)


def test_filter_prints_one_verdict_per_line(sluice_bin):
    r = run(sluice_bin, "filter", '{"priority":{"in":["high"]},"n":{"$gte":2}}',
            stdin=lines({"priority": "high", "n": 2}, {"priority": "low", "n": 5}, {"priority": ["high"], "n": [1, 3]}))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["true", "false", "true"]


def test_filter_reads_a_file(sluice_bin, tmp_path):
    f = tmp_path / "docs.jsonl"
    f.write_text(lines({"a": 1}, {"a": 2}))
    r = run(sluice_bin, "filter", '{"a":2}', str(f))
    assert r.returncode == 0
    assert r.stdout.split() == ["false", "true"]


def test_filter_malformed_query_exits_2_naming_the_operator(sluice_bin):
    r = run(sluice_bin, "filter", '{"a":{"$bogus":1}}', stdin=lines({"a": 1}))
    assert r.returncode == 2
    assert "$bogus" in r.stderr
    r = run(sluice_bin, "filter", '{"a":', stdin="")
    assert r.returncode == 2
    assert "offset" in r.stderr
    r = run(sluice_bin, "filter", '{"a":{"$regex":"(x"}}', stdin="")
    assert r.returncode == 2
    assert "$regex" in r.stderr


def test_filter_malformed_line_exits_2_naming_the_line(sluice_bin):
    r = run(sluice_bin, "filter", '{"a":1}', stdin='{"a":1}\n{"a":2}\n{nope\n{"a":1}\n')
    assert r.returncode == 2
    assert r.stdout.split() == ["true", "false"]
    assert "line 3" in r.stderr


def test_patch_applies_rfc6902_and_seed_format(sluice_bin):
    r = run(sluice_bin, "patch", '[{"op":"replace","path":"/status","value":"done"},{"op":"add","path":"/tags/-","value":"x"}]',
            stdin=lines({"status": "todo", "tags": []}))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"status": "done", "tags": ["x"]}
    r = run(sluice_bin, "patch", '[{"op":"incr","path":["n"],"value":[2]},{"op":"append","path":["tags"],"value":["y"]}]',
            stdin=lines({"n": 1, "tags": ["x"]}, {"n": 10}))
    assert r.returncode == 0, r.stderr
    assert [json.loads(l) for l in r.stdout.splitlines()] == [{"n": 3, "tags": ["x", "y"]}, {"n": 12, "tags": ["y"]}]


def test_patch_failed_test_exits_2_naming_the_operation(sluice_bin):
    r = run(sluice_bin, "patch", '[{"op":"add","path":"/a","value":1},{"op":"test","path":"/a","value":2}]', stdin=lines({}))
    assert r.returncode == 2
    assert "operation 1" in r.stderr


def test_patch_malformed_patch_and_line_exit_2(sluice_bin):
    r = run(sluice_bin, "patch", '[{"op":"frobnicate","path":"/a"}]', stdin=lines({}))
    assert r.returncode == 2
    assert "frobnicate" in r.stderr and "operation 0" in r.stderr
    r = run(sluice_bin, "patch", '[]', stdin='{}\n[1,\n')
    assert r.returncode == 2
    assert "line 2" in r.stderr


def test_unknown_subcommand_or_missing_argument_exits_2(sluice_bin):
    assert run(sluice_bin, "frobnicate").returncode == 2
    assert run(sluice_bin, "filter").returncode == 2


def test_distributed_processes_need_a_shared_queue(sluice_bin, tmp_path):
    # `sluice api` and `sluice stage` are parts of the distributed shape: on the embedded queue
    # (a file one process owns) they refuse to start, naming the key to change.
    for args in (["api"], ["stage", "writer"]):
        r = run(sluice_bin, *args, "--data", str(tmp_path))
        assert r.returncode == 2, (args, r.stderr)
        assert "queue.kind" in r.stderr and "sluice serve" in r.stderr


def test_stage_names_a_configured_stage(sluice_bin, tmp_path):
    r = run(sluice_bin, "stage", "no-such-stage", "--data", str(tmp_path))
    assert r.returncode == 2
    assert "no-such-stage" in r.stderr and "writer" in r.stderr


def test_backend_configuration_errors_name_the_key(sluice_bin, tmp_path):
    cases = {
        '[queue]\nkind = "kafka"\n': "queue.kind",
        '[queue]\nkind = "rabbitmq"\n': "queue.url",
        '[store]\nkind = "postgres"\nurl = "mysql://x"\n': "store.url",
        '[registry]\nkind = "redis-cluster"\n': "registry.urls",
    }
    for text, key in cases.items():
        f = tmp_path / "sluice.toml"
        f.write_text(text)
        r = run(sluice_bin, "serve", "--config", str(f), "--data", str(tmp_path / "d"), "--listen", "127.0.0.1:0")
        assert r.returncode == 2, (text, r.stderr)
        assert key in r.stderr, (text, r.stderr)
