"""docs/transport.md's example, run for real: clients in separate OS processes over TCP on
127.0.0.1, one killed mid-round, the mean checked against the survivors' plain mean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "processes.py"


def _run(*flags: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--json", *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["secagg+", "secagg", "paillier", "plain"])
def test_a_client_killed_before_upload_is_dropped_and_the_mean_is_right(backend: str) -> None:
    report = _run(
        "--backend",
        backend,
        "--clients",
        "6",
        "--kill",
        "3",
        "--kill-after-stage",
        "1" if backend in ("paillier", "plain") else "2",
    )
    assert report["ok"] and report["max_abs_error"] <= report["bound"]
    if backend != "plain":  # plain's only message is the upload, sent before the kill
        assert 3 in report["dropped"] and 3 not in report["survivors"]
    assert len(report["survivors"]) >= 5 - (backend == "plain")


def test_a_client_killed_after_upload_still_counts() -> None:
    report = _run("--backend", "secagg+", "--kill", "4", "--kill-after-stage", "3")
    assert report["ok"] and 4 in report["survivors"] and report["dropped"] == []


def test_the_transport_documentation_runs_this_example() -> None:
    text = (REPO / "docs" / "transport.md").read_text()
    assert "examples/processes.py" in text


def test_the_example_transport_authenticates_connections() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("processes", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tokens = {1: b"a" * 32, 2: b"b" * 32}
    hello = module._HELLO.pack
    assert module._authenticate(hello(1, b"a" * 32), tokens, {}) == 1
    assert module._authenticate(hello(1, b"b" * 32), tokens, {}) is None  # wrong secret
    assert module._authenticate(hello(3, b"a" * 32), tokens, {}) is None  # unknown id
    assert module._authenticate(hello(1, b"a" * 32), tokens, {1: object()}) is None  # taken
    assert module._authenticate(b"\x00\x00\x00\x01", tokens, {}) is None  # short hello
    assert module._authenticate(None, tokens, {}) is None
