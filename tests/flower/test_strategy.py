"""Both Flower app styles: SecureFedAvg (Message API) and SecAggWorkflow (legacy
DefaultWorkflow with a NumPyClient), on an in-process grid."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.app import Context, RecordDict  # noqa: E402
from flwr.client import NumPyClient  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.compat.common import recorddict_compat as compat  # noqa: E402
from flwr.server import LegacyContext, ServerConfig  # noqa: E402
from flwr.server.strategy import FedAvg as LegacyFedAvg  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402

from secagg.flower import InProcessGrid, SecAggSettings, secagg_mod  # noqa: E402
from secagg.flower.grid import FIRST_NODE_ID  # noqa: E402
from secagg.flower.strategy import SecAggWorkflow, SecureFedAvg  # noqa: E402
from secagg.quantize import QuantizationConfig, quantization_error_bound  # noqa: E402

from .conftest import (  # noqa: E402
    CLIP,
    DIM,
    SHAPES,
    StageDropper,
    expected_mean,
    grid_of,
    initial_model,
    update_of,
    weight_of,
)

N = 5


def _flat(arrays) -> np.ndarray:  # noqa: ANN001
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def _bound() -> float:
    quant = QuantizationConfig(clip=CLIP, bits=16, max_clients=N, max_weight=2**16 - 1)
    return quantization_error_bound(quant) + 1e-5


@pytest.mark.parametrize("backend", ["secagg", "secagg+", "paillier", "plain"])
def test_secure_fedavg_gives_fedavg_the_weighted_mean(backend: str) -> None:
    grid = grid_of(N)
    strategy = SecureFedAvg(
        SecAggSettings(backend=backend, clip=CLIP, stage_timeout=0.3),
        min_train_nodes=N,
        min_available_nodes=N,
        min_evaluate_nodes=N,
    )
    start = initial_model()
    result = strategy.start(grid=grid, initial_arrays=start, num_rounds=2, timeout=5)
    moved = _flat(result.arrays[name].numpy() for name in SHAPES) - _flat(
        start[name].numpy() for name in SHAPES
    )
    # Two rounds of the same updates: twice the mean.
    assert np.max(np.abs(moved - 2 * expected_mean(range(N)))) <= 2 * _bound()
    assert [len(r.survivors) for r in strategy.reports] == [N, N]
    metrics = result.train_metrics_clientapp[1]
    assert metrics["num-examples"] == sum(weight_of(i) for i in range(N))
    assert "loss" not in metrics  # nodes' own metrics never leave them
    assert result.evaluate_metrics_clientapp[2]["accuracy"] == 0.5  # evaluation untouched


def test_secure_fedavg_skips_an_aborted_round_and_goes_on() -> None:
    # Three of five nodes vanish after training in round 1 only: too few survivors.
    drops = [StageDropper(FIRST_NODE_ID + i, 1) for i in range(3)]

    def hook(grid, message) -> None:  # noqa: ANN001
        for drop in drops:
            drop(grid, message)

    grid = grid_of(N, hook)
    strategy = SecureFedAvg(
        SecAggSettings(backend="secagg", clip=CLIP, stage_timeout=0.3),
        min_train_nodes=N,
        min_available_nodes=N,
        fraction_evaluate=0.0,
    )
    start = initial_model()
    result = strategy.start(grid=grid, initial_arrays=start, num_rounds=1, timeout=5)
    assert strategy.reports[0].aborted is not None
    assert strategy.reports[0].mean_update is None
    # FedAvg got no new model: it keeps the one it had (Flower reports no arrays).
    assert list(result.arrays.keys()) == []


class _Client(NumPyClient):
    def __init__(self, partition: int) -> None:
        self.partition = partition

    def fit(self, parameters, config):  # noqa: ANN001, ANN201
        step = update_of(self.partition)
        out, start = [], 0
        for p in parameters:
            out.append((p.astype(np.float64) + step[start : start + p.size].reshape(p.shape)).astype(p.dtype))
            start += p.size
        return out, weight_of(self.partition), {"loss": 0.1}


def _client_fn(context: Context):  # noqa: ANN202
    return _Client(int(context.node_config["partition-id"])).to_client()


@pytest.mark.parametrize("backend", ["secagg+", "paillier"])
def test_the_legacy_workflow_with_a_numpy_client(backend: str) -> None:
    app = ClientApp(client_fn=_client_fn, mods=[secagg_mod])
    grid = InProcessGrid(app, [{"partition-id": i} for i in range(N)])
    start = [initial_model()[name].numpy() for name in SHAPES]
    strategy = LegacyFedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=N,
        min_available_clients=N,
        initial_parameters=ndarrays_to_parameters(start),
    )
    context = LegacyContext(
        context=Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={}),
        config=ServerConfig(num_rounds=1),
        strategy=strategy,
    )
    workflow = SecAggWorkflow(SecAggSettings(backend=backend, clip=CLIP, stage_timeout=0.3))
    DefaultWorkflow(fit_workflow=workflow)(grid, context)
    final = parameters_to_ndarrays(
        compat.arrayrecord_to_parameters(context.state.array_records["parameters"], True)
    )
    moved = _flat(final) - _flat(start)
    assert moved.size == DIM
    assert np.max(np.abs(moved - expected_mean(range(N)))) <= _bound()
    assert len(workflow.reports[0].survivors) == N
