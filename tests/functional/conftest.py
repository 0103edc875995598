"""Shared fixtures for the black-box functional tests: they drive the real `sluice` binary only
through its documented interfaces (command line, HTTP, WebSocket)."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sluice_bin():
    path = pathlib.Path(os.environ.get("SLUICE_BIN", ROOT / "build" / "bin" / "sluice"))
    if not path.exists():
        pytest.fail(f"sluice binary not found at {path}; run `make build` first")
    return str(path)
