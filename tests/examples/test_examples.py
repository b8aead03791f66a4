"""Every example under examples/ runs, and shows what it says it shows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _python(*args: str, timeout: float = 300) -> str:
    # From the checkout, as the examples say: fl is not installed with secagg.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
        check=False, env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("protocol", ["secagg", "secagg+", "paillier"])
def test_secure_sum_is_within_one_step_of_the_plain_mean(protocol: str) -> None:
    out = _python(str(EXAMPLES / "secure_sum.py"), "--protocol", protocol, "--clients", "8",
                  "--dim", "2000", "--json")
    report = json.loads(out.strip().splitlines()[-1])
    assert report["survivors"] == 7 and report["within_one_step"]


def test_own_loop_learns_with_a_client_missing_every_round() -> None:
    out = _python(str(EXAMPLES / "own_loop.py"))
    accuracy = [float(m) for m in re.findall(r"accuracy ([0-9.]+)", out)]
    assert len(accuracy) == 10 and accuracy[-1] > 0.7 and accuracy[-1] > accuracy[0]
    assert all("7 survivors" in line for line in out.strip().splitlines())


def test_own_loop_is_the_block_docs_fl_md_prints() -> None:
    doc = (REPO / "docs" / "fl.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    (block,) = [b for b in blocks if "for rnd in range" in b]
    assert block.strip() in (EXAMPLES / "own_loop.py").read_text()


def test_flower_example_app_trains_one_secure_round_in_process(tmp_path: Path) -> None:
    pytest.importorskip("flwr")
    pytest.importorskip("torch")
    from flwr.app import Context, RecordDict

    from secagg.flower import InProcessGrid

    sys.path.insert(0, str(EXAMPLES / "flower"))
    try:
        from secagg_mnist import client_app, server_app
    finally:
        sys.path.remove(str(EXAMPLES / "flower"))
    config = tomllib.loads((EXAMPLES / "flower" / "pyproject.toml").read_text())
    run_config = dict(config["tool"]["flwr"]["app"]["config"])
    results = tmp_path / "results.json"
    run_config.update({"num-server-rounds": 1, "results": str(results), "stage-timeout": 30.0})
    nodes = 4
    grid = InProcessGrid(
        client_app.app,
        [{"partition-id": i, "num-partitions": nodes} for i in range(nodes)],
        run_config=run_config,
    )
    context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(),
                      run_config=run_config)
    server_app.main(grid, context)
    report = json.loads(results.read_text())
    assert report["backend"] == "secagg+"
    first, last = report["rounds"][0], report["rounds"][-1]
    assert last["round"] == 1 and last["survivors"] == nodes and not last["aborted"]
    assert last["accuracy"] > first["accuracy"]
