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
