"""The aggregator contract, run against every backend: the secure mean equals the plain
weighted mean within the quantization bound, dropouts and NaN/Inf clients are left out."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pytest
import torch

from fl.aggregator import (
    AggregationResult,
    Aggregator,
    PlainAggregator,
    SecureAggregator,
    make_aggregator,
)
from secagg.errors import AbortError, ConfigurationError, InputError, WeightError
from secagg.result import DropStage

EntropyFactory = Callable[[int], Callable[[int], bytes]]
CLIP = 0.5
DIM = 300
MASKING = ("secagg", "secagg+")


def _updates(n: int, seed: int, scale: float = 0.2) -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng(seed)
    updates = [(rng.standard_normal(DIM) * scale).astype(np.float32) for _ in range(n)]
    updates = [np.clip(u, -0.99 * CLIP, 0.99 * CLIP) for u in updates]
    weights = rng.integers(1, 400, size=n).tolist()
    return updates, weights


def _weighted_mean(updates: list[np.ndarray], weights: list[int], idx: list[int]) -> np.ndarray:
    total = sum(weights[i] * updates[i].astype(np.float64) for i in idx)
    return total / sum(weights[i] for i in idx)


def _aggregator(backend: str, entropy_seed: int, make_entropy: EntropyFactory) -> Aggregator:
    if backend == "plain":
        return PlainAggregator()
    return SecureAggregator(backend, clip=CLIP, entropy=make_entropy(entropy_seed))


def _bound(result: AggregationResult) -> float:
    # plain is exact up to float64 rounding; secure ones within one quantization step
    return result.metrics.quantization_bound + 1e-9


@pytest.fixture(params=("plain", *MASKING))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestAggregatorContract:
    """What every backend promises (Paillier: see test_paillier_matches_plain)."""

    def test_mean_matches_plain_weighted_mean(self, backend: str, make_entropy) -> None:
        updates, weights = _updates(10, seed=1)
        result = _aggregator(backend, 1, make_entropy).aggregate(updates, weights)
        want = _weighted_mean(updates, weights, list(range(10)))
        assert result.survivors == tuple(range(10))
        assert result.total_weight == sum(weights)
        assert np.max(np.abs(result.mean - want)) <= _bound(result)
        if backend != "plain":
            # the bound is tight enough to mean something: one step of 2*clip/(2^16-1)
            assert result.metrics.quantization_bound == pytest.approx(2 * CLIP / 65535)
            assert result.metrics.max_error_vs_plain <= _bound(result)

    @pytest.mark.parametrize(
        "stage", [DropStage.ADVERTISE_KEYS, DropStage.SHARE_KEYS, DropStage.MASKED_INPUT]
    )
    def test_dropped_clients_are_left_out(
        self, backend: str, stage: DropStage, make_entropy
    ) -> None:
        updates, weights = _updates(10, seed=2)
        result = _aggregator(backend, 2, make_entropy).aggregate(
            updates, weights, dropouts={2: stage, 7: stage}, round_number=3
        )
        alive = [i for i in range(10) if i not in (2, 7)]
        assert result.survivors == tuple(alive)
        assert result.metrics.dropped == (2, 7)
        assert np.max(np.abs(result.mean - _weighted_mean(updates, weights, alive))) <= _bound(
            result
        )

    def test_client_dropping_after_upload_still_counts(self, backend: str, make_entropy) -> None:
        updates, weights = _updates(10, seed=3)
        result = _aggregator(backend, 3, make_entropy).aggregate(
            updates, weights, dropouts={4: DropStage.UNMASKING}
        )
        assert 4 in result.survivors
        want = _weighted_mean(updates, weights, list(range(10)))
        assert np.max(np.abs(result.mean - want)) <= _bound(result)

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite_client_is_excluded_and_counted_as_dropped(
        self, backend: str, bad: float, make_entropy, caplog: pytest.LogCaptureFixture
    ) -> None:
        updates, weights = _updates(10, seed=4)
        updates[5] = updates[5].copy()
        updates[5][17] = bad
        with caplog.at_level(logging.WARNING, logger="fl"):
            result = _aggregator(backend, 4, make_entropy).aggregate(
                updates, weights, round_number=9
            )
        alive = [i for i in range(10) if i != 5]
        assert result.survivors == tuple(alive)
        assert 5 in result.metrics.dropped
        assert result.metrics.excluded == {5: "update holds 1 NaN/Inf value"}
        assert "round 9: client 5 excluded: update holds 1 NaN/Inf value" in caplog.text
        assert np.all(np.isfinite(result.mean))
        assert np.max(np.abs(result.mean - _weighted_mean(updates, weights, alive))) <= _bound(
            result
        )

    def test_torch_tensors_are_accepted(self, backend: str, make_entropy) -> None:
        updates, weights = _updates(6, seed=5)
        tensors = [torch.from_numpy(u).requires_grad_(True) for u in updates]
        result = _aggregator(backend, 5, make_entropy).aggregate(tensors, weights)
        want = _weighted_mean(updates, weights, list(range(6)))
        assert np.max(np.abs(result.mean - want)) <= _bound(result)

    def test_bad_weights_are_refused(self, backend: str, make_entropy) -> None:
        updates, _ = _updates(3, seed=6)
        agg = _aggregator(backend, 6, make_entropy)
        with pytest.raises(InputError, match="weights"):
            agg.aggregate(updates, [1, 2])
        for weights in ([1, 0, 2], [1.5, 1, 1], [True, 1, 1], [2.0, 1, 1], [float("nan"), 1, 1]):
            with pytest.raises(WeightError):
                agg.aggregate(updates, weights)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="1-D"):
            agg.aggregate([u.reshape(3, -1) for u in updates], [1, 1, 1])

    def test_metrics_report_costs(self, backend: str, make_entropy) -> None:
        updates, weights = _updates(5, seed=7)
        m = _aggregator(backend, 7, make_entropy).aggregate(updates, weights).metrics
        assert m.backend == backend
        assert m.clients == 5 and m.survivors == 5
        assert m.bytes_up_per_client >= 4 * DIM * (0.5 if backend != "plain" else 1)
        assert m.plain_ms >= 0
        if backend == "plain":
            assert m.overhead == 1.0 and m.crypto_ms == 0.0
        else:
            assert m.client_crypto_ms > 0 and m.server_crypto_ms > 0
            assert m.overhead > 1.0


@pytest.mark.parametrize("gone", [8, 10])
@pytest.mark.parametrize("backend", MASKING)
def test_too_few_survivors_abort(backend: str, gone: int, make_entropy) -> None:
    updates, weights = _updates(10, seed=8)
    drops = {i: DropStage.MASKED_INPUT for i in range(gone)}
    with pytest.raises(AbortError):
        _aggregator(backend, 8, make_entropy).aggregate(updates, weights, dropouts=drops)


def test_plain_aborts_below_its_minimum() -> None:
    updates, weights = _updates(4, seed=9)
    drops = {i: DropStage.SHARE_KEYS for i in range(3)}
    assert PlainAggregator().aggregate(updates, weights, dropouts=drops).survivors == (3,)
    with pytest.raises(AbortError):
        PlainAggregator(min_survivors=2).aggregate(updates, weights, dropouts=drops)


def test_clipping_changes_the_mean_and_is_reported(make_entropy) -> None:
    updates, weights = _updates(6, seed=10)
    updates[0] = updates[0].copy()
    updates[0][:10] = 3.0  # far beyond the clip
    result = SecureAggregator("secagg+", clip=CLIP, entropy=make_entropy(10)).aggregate(
        updates, weights
    )
    clipped = [np.clip(u, -CLIP, CLIP) for u in updates]
    want = _weighted_mean(clipped, weights, list(range(6)))
    assert np.max(np.abs(result.mean - want)) <= _bound(result)
    assert result.metrics.clipped == 10
    assert result.metrics.max_abs_update == pytest.approx(3.0)
    assert result.metrics.max_error_vs_plain > 0.1  # the unclipped mean is far away


def test_paillier_matches_plain(make_entropy) -> None:
    # One Paillier round (2048-bit keygen ~1-2 s): mean, dropouts and NaN exclusion at once,
    # with the first client dropping, which secagg's simulator would make the key holder.
    updates, weights = _updates(6, seed=11)
    updates[3] = np.full(DIM, np.nan, dtype=np.float32)
    result = SecureAggregator("paillier", clip=CLIP, entropy=make_entropy(11)).aggregate(
        updates, weights, dropouts={0: DropStage.MASKED_INPUT}
    )
    alive = [1, 2, 4, 5]
    assert result.survivors == tuple(alive)
    assert result.metrics.excluded == {3: f"update holds {DIM} NaN/Inf values"}
    assert set(result.metrics.dropped) == {0, 3}
    assert np.max(np.abs(result.mean - _weighted_mean(updates, weights, alive))) <= _bound(result)
    assert result.metrics.keyholder_crypto_ms > 0


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown backend"):
        make_aggregator("rot13")


def test_aggregators_satisfy_the_protocol() -> None:
    assert isinstance(PlainAggregator(), Aggregator)
    assert isinstance(SecureAggregator("secagg", clip=1.0), Aggregator)


def test_secagg_plus_sizes_its_graph_for_the_expected_dropout(make_entropy) -> None:
    # 10 clients, 4 vanish before upload every round: the default sparse graph leaves
    # some client with fewer than t live neighbours; sized for 40% dropout it survives.
    rng = np.random.default_rng(0)
    updates = [rng.uniform(-0.1, 0.1, 30).astype(np.float32) for _ in range(10)]
    failures = 0
    for r in range(5):
        gone = rng.choice(10, 4, replace=False).tolist()
        drops = {int(i): DropStage.MASKED_INPUT for i in gone}
        sized = make_aggregator("secagg+", clip=0.5, dropout=0.4, entropy=make_entropy(r))
        result = sized.aggregate(updates, [1] * 10, dropouts=drops, round_number=r)
        assert len(result.survivors) == 6
        try:
            SecureAggregator("secagg+", clip=0.5, entropy=make_entropy(r)).aggregate(
                updates, [1] * 10, dropouts=drops, round_number=r)
        except AbortError:
            failures += 1
    assert failures > 0  # the unsized graph is what the default used to be


@pytest.mark.parametrize("dropout", [-0.1, 1.0, float("nan"), True])
def test_dropout_must_be_a_fraction(dropout: float) -> None:
    with pytest.raises(ConfigurationError):
        SecureAggregator("secagg+", clip=0.5, dropout=dropout)
