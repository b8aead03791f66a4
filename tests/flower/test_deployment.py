"""A real local Flower deployment: a SuperLink and 3 SuperNodes as processes on 127.0.0.1,
one round of SecAgg+ through `flwr run`, the exact aggregate, and every process gone
afterwards. Flower's polling makes this take about half a minute."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")

REPO = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "deploy_app"


def _load(name: str, path: Path):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


deployment = _load("secagg_flower_deployment", REPO / "examples" / "flower" / "deployment.py")


def test_one_secagg_plus_round_on_a_local_deployment(tmp_path: Path) -> None:
    results = tmp_path / "probe.json"
    nodes = 3
    with deployment.LocalDeployment(nodes, tmp_path / "deployment") as local:
        run = local.run(APP, {"nodes": nodes, "results": str(results)})
        code = run.wait(timeout=300)  # a timeout raises: the deployment is stopped anyway
        log = (tmp_path / "deployment" / "run.log").read_text()
    assert code == 0, log
    # Every process started is gone: reaped, and no process left in its group.
    assert all(proc.poll() is not None for proc in local.processes.values())
    assert local.alive_groups() == [], f"processes left behind: {local.alive_groups()}"
    out = json.loads(results.read_text())
    assert out["aborted"] is None and out["survivors"] == nodes
    probe = _load("secagg_probe_apps_for_test", APP / "secagg_probe" / "apps.py")
    weights = np.arange(1, nodes + 1, dtype=np.float64)
    expected = sum(w * probe.update(i) for i, w in enumerate(weights)) / weights.sum()
    step = 2 * probe.CLIP / (2**16 - 1)  # one quantization step bounds the mean's error
    assert out["total_weight"] == int(weights.sum())
    assert np.max(np.abs(np.array(out["mean"]) - expected)) <= step + 1e-6
