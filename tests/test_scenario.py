"""Streamed rounds: inputs are made one client at a time, just before they are masked or
encrypted, released after, and the exactness check needs none of them kept."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from secagg.quantize import quantization_error_bound
from secagg.result import Backend, DropStage
from secagg.scenario import Scenario, protected_input, report, run_scenario
from secagg.simulation import InputStream, simulate_round


@pytest.mark.parametrize("backend", ["secagg", "secagg+", "paillier", "plain"])
@pytest.mark.parametrize("stage", [None, *DropStage])
def test_a_streamed_round_is_exact_with_dropouts_at_every_stage(backend, stage) -> None:
    scenario = Scenario(
        Backend.parse(backend),
        clients=12,
        dim=50,
        dropout=0.25 if stage else 0.0,
        dropout_stage=stage,
        seed=3,
    )
    out = report(run_scenario(scenario, stream=True))
    assert out["exact"] is True
    assert out["survivors"] == (12 if stage in (None, DropStage.UNMASKING) else 9)
    # Made up front (a small round's default), the inputs give the same report.
    assert report(run_scenario(scenario, stream=False))["exact"] is True
    assert out["max_abs_error"] <= quantization_error_bound(scenario.quantization)


@pytest.mark.parametrize("stream", [True, False])
def test_a_client_whose_upload_is_refused_leaves_the_check_exact(monkeypatch, stream) -> None:
    # Client 3 gets its input, masks it, and the server refuses the upload: its input
    # is made but not in the sum, so the running sums must take it out again.
    from secagg.errors import MessageError
    from secagg.masking.server import MaskingServer

    receive = MaskingServer.receive

    def refuse_3(self, sender: int, data: bytes) -> None:
        if sender == 3 and self.stage.name == "COLLECTING_INPUTS":
            raise MessageError("refused for the test")
        receive(self, sender, data)

    monkeypatch.setattr(MaskingServer, "receive", refuse_3)
    scenario = Scenario(Backend.SECAGG_PLUS, clients=10, dim=40, dropout=0.0, seed=4)
    result = run_scenario(scenario, stream=stream)
    assert 3 not in result.run.outcome.survivors and 3 in result.run.refused
    assert report(result)["exact"] is True


def test_the_check_catches_a_wrong_aggregate() -> None:
    result = run_scenario(Scenario(Backend.SECAGG_PLUS, clients=8, dim=20, dropout=0.0))
    result.run.outcome.aggregate[3] ^= 1
    assert report(result)["exact"] is False


def test_inputs_are_made_only_when_due_and_never_pile_up() -> None:
    # At most one made input is alive when the next is made: each client masks its
    # vector right after getting it and drops it; clients that vanish before the
    # upload never get one.
    scenario = Scenario(Backend.SECAGG_PLUS, clients=30, dim=2000, dropout=0.0)
    alive: list[weakref.ref] = []
    peak = 0
    made: list[int] = []

    def make(cid: int) -> np.ndarray:
        nonlocal peak
        gc.collect()
        peak = max(peak, sum(ref() is not None for ref in alive))
        vector = protected_input(scenario, cid - 1)
        alive.append(weakref.ref(vector))
        made.append(cid)
        return vector

    drops = {3: DropStage.ADVERTISE_KEYS, 4: DropStage.SHARE_KEYS, 5: DropStage.MASKED_INPUT}
    stream = InputStream(range(1, 31), make)
    run = simulate_round("secagg+", stream, 2000, scenario.quantization, drops, neighbours=8)
    assert peak <= 1
    assert sorted(made) == sorted(stream.supplied) == [c for c in range(1, 31) if c not in drops]
    expected = sum(protected_input(scenario, c - 1).astype(np.uint64) for c in made)
    k = scenario.quantization.k
    assert np.array_equal(run.outcome.aggregate, expected & np.uint64((1 << k) - 1))


def test_a_client_input_is_the_same_however_often_it_is_made() -> None:
    scenario = Scenario(Backend.SECAGG, clients=4, dim=64, seed=9)
    assert np.array_equal(protected_input(scenario, 2), protected_input(scenario, 2))
    assert not np.array_equal(protected_input(scenario, 1), protected_input(scenario, 2))
