"""`sluice new stage|listener|reconciler NAME [--kind exec|webhook|cpp] [--dir D]` (DESIGN.md §9):
each starting point is written, its own tests pass, and, wired in with the TOML it wrote, it works
in a running Sluice (the C++ ones built against this repository's libraries)."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import requests

import conftest
from conftest import free_port
from test_stages import wait_for


def scaffold(sluice_bin, tmp_path, what, name, kind):
    r = subprocess.run([sluice_bin, "new", what, name, "--kind", kind, "--dir", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    folder = tmp_path / name
    assert (folder / "sluice.toml").exists() and (folder / "README.md").exists()
    assert str(folder / "sluice.toml") in r.stdout
    return folder


def run_python_tests(folder):
    r = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", str(folder), "-v"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.search(r"Ran [1-9]\d* tests?", r.stderr) and "OK" in r.stderr, r.stderr


def start_webhook(folder, name):
    """Starts the webhook it wrote on a free port, its stderr in folder/webhook.err; returns (the
    process, the TOML with that port)."""
    port = free_port()
    err = open(folder / "webhook.err", "w")
    proc = subprocess.Popen([sys.executable, str(folder / f"{name}.py"), "--port", str(port)], stdout=subprocess.PIPE, stderr=err, text=True)
    assert "listening" in proc.stdout.readline()
    return proc, (folder / "sluice.toml").read_text().replace("127.0.0.1:9000", f"127.0.0.1:{port}")


def check_running(what, name, server, read_log):
    """The starting point at work in `server`."""
    t = server.token()
    if what == "stage":
        r = server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "s1", "title": "x"})
        assert r.status_code == 201 and r.json()["checked_by"] == name, r.text
    elif what == "listener":
        assert server.request("POST", "/v1/apps/demo/models/task", t, {"id": "l1"}).status_code == 202
        wait_for(lambda: f"{name}: model_created demo/task/l1" in read_log(), what="the listener's line")
    else:
        assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "ok"}).status_code == 201
        assert server.request("POST", "/v1/apps/demo/models/task?wait=1", t, {"id": "b1", "broken": True}).status_code == 201

        wait_for(lambda: "broken" not in server.request("GET", "/v1/apps/demo/models/task/b1", t).json(), timeout=30,
                 what="the fix applied through the write path")
        r = server.request("GET", f"/v1/apps/demo/reconcilers/{name}", t)
        assert r.status_code == 200 and {i["id"] for i in r.json()["items"]} == {"ok", "b1"}, r.text
        metrics = requests.get(server.url + "/metrics", timeout=5).text
        assert f'sluice_reconciler_documents_total{{reconciler="{name}",status="fixed"}} 1' in metrics


def fast(toml):
    return toml.replace("interval_seconds = 60", "interval_seconds = 1")


@pytest.mark.parametrize("what", ["stage", "listener", "reconciler"])
@pytest.mark.parametrize("kind", ["exec", "webhook"])
def test_a_scaffold_passes_its_tests_and_works_wired_in(sluice_bin, make_server, tmp_path, what, kind):
    name = f"my-{what}"
    folder = scaffold(sluice_bin, tmp_path, what, name, kind)
    assert (folder / f"{name}.py").stat().st_mode & 0o100
    run_python_tests(folder)
    hook = None
    if kind == "webhook":
        hook, toml = start_webhook(folder, name)
    else:
        toml = (folder / "sluice.toml").read_text()
    try:
        server = make_server(fast(toml)).start()
        webhook_err = folder / "webhook.err"
        check_running(what, name, server, lambda: server.read_log() + (webhook_err.read_text() if webhook_err.exists() else ""))
    finally:
        if hook and hook.poll() is None:
            hook.kill()
            hook.wait()


def test_cpp_scaffolds_build_against_this_repository_and_work(sluice_bin, make_server, tmp_path, monkeypatch):
    """Each C++ starting point: configured with CMake against this build of Sluice, built, its
    test run by ctest, and the `sluice-NAME` it built serving with the TOML it wrote."""
    build_dir = pathlib.Path(sluice_bin).resolve().parent.parent
    assert (build_dir / "SluiceConfig.cmake").exists()
    for what in ["stage", "listener", "reconciler"]:
        name = f"cpp-{what}"
        folder = scaffold(sluice_bin, tmp_path, what, name, "cpp")
        env = dict(os.environ)
        if shutil.which("ccache"):
            env["CMAKE_CXX_COMPILER_LAUNCHER"] = "ccache"
        for cmd in (["cmake", "-S", str(folder), "-B", str(folder / "build"), "-G", "Ninja", f"-DSluice_DIR={build_dir}"],
                    ["cmake", "--build", str(folder / "build"), "-j2"],
                    ["ctest", "--test-dir", str(folder / "build"), "--output-on-failure"]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
            assert r.returncode == 0, (cmd, r.stdout[-3000:], r.stderr[-3000:])
        assert "100% tests passed" in r.stdout
        monkeypatch.setattr(conftest, "SLUICE", folder / "build" / f"sluice-{name}")
        server = make_server(fast((folder / "sluice.toml").read_text()), name=name).start()
        check_running(what, name, server, server.read_log)
        server.stop()


@pytest.mark.parametrize("args, expected", [
    (["new", "stage", "9lives"], "name '9lives'"),
    (["new", "stage", "a/b"], "name 'a/b'"),
    (["new", "gadget", "x"], "gadget"),
    (["new", "stage", "x", "--kind", "lambda"], "lambda"),
], ids=["digit-first", "slash", "bad-what", "bad-kind"])
def test_bad_arguments_exit_2_naming_them(sluice_bin, tmp_path, args, expected):
    r = subprocess.run([sluice_bin, *args, "--dir", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and expected in r.stderr, (r.returncode, r.stderr)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_overwritten(sluice_bin, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    r = subprocess.run([sluice_bin, "new", "stage", "mine", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "exists" in r.stderr
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]
