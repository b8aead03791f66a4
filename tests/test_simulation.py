"""run_round and the aggregators: forged inputs (a Byzantine client protects any vector
of Z_2^k) are modelled exactly and a sum no honest cohort makes aborts the round; one
clip default at every layer, clipping counted, L2 clipping; errors in the caller's
numbering."""

from __future__ import annotations

import numpy as np
import pytest

from secagg import (
    AbortError,
    ConfigurationError,
    InputError,
    QuantizationConfig,
    SecureAggregator,
    run_round,
)
from secagg.primitives.entropy import seeded_entropy
from secagg.result import DropStage
from secagg.weighting import encode_weighted

Q = QuantizationConfig(clip=1.0, bits=8, max_clients=5, max_weight=1)


def _updates(n: int = 5, d: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.uniform(-0.5, 0.5, d) for _ in range(n)]


@pytest.mark.parametrize("backend", ["secagg", "secagg+", "plain"])
def test_a_forged_vector_lands_in_the_sum_mod_2k(backend: str) -> None:
    forged = np.full(8, 3, dtype=np.uint32)
    forged[-1] = 1  # keeps a valid weight

    seen: list[np.ndarray] = []

    def forge(honest: np.ndarray, q: QuantizationConfig) -> np.ndarray:
        seen.append(honest.copy())
        assert q == Q
        return forged

    result = run_round(backend, _updates(), quantization=Q, forged={2: forge},
                       entropy=seeded_entropy(1))
    ref = run_round(backend, _updates(), quantization=Q, entropy=seeded_entropy(1))
    # The same entropy gives the same honest quantization: the forged client's honest
    # vector is replaced by the forged one, everything else is unchanged.
    expected = (ref.aggregate.astype(np.int64) - seen[0].astype(np.int64)
                + forged.astype(np.int64)) % (1 << Q.k)
    assert np.array_equal(result.aggregate.astype(np.int64), expected)


def test_a_dropped_forger_adds_nothing() -> None:
    def forge(honest: np.ndarray, q: QuantizationConfig) -> np.ndarray:
        out = honest.copy()
        out[:-1] = 200
        return out

    result = run_round("secagg", _updates(), quantization=Q, forged={1: forge},
                       dropouts={1: DropStage.MASKED_INPUT})
    assert 1 not in result.survivors
    assert np.max(np.abs(result.mean - np.mean([u for i, u in enumerate(_updates())
                                                if i != 1], axis=0))) < 0.02


def test_an_out_of_range_sum_aborts() -> None:
    def beyond(honest: np.ndarray, q: QuantizationConfig) -> np.ndarray:
        out = honest.copy()
        out[:-1] = 5 * q.levels + 7  # more than 5 clients at +clip can sum to
        return out

    assert (5 * Q.levels + 7) < (1 << Q.k)  # no wrap: the excess itself is caught
    honest_low = [np.full(7, -1.0)] * 5  # every honest value quantizes to 0
    with pytest.raises(AbortError, match="range check"):
        run_round("secagg", honest_low, quantization=Q, forged={0: beyond})


def test_forged_positions_and_vectors_are_checked() -> None:
    with pytest.raises(InputError):
        run_round("secagg", _updates(), quantization=Q, forged={7: lambda h, q: h})
    with pytest.raises(InputError):
        run_round("secagg", _updates(), quantization=Q, forged={0: lambda h, q: h[:-1]})
    with pytest.raises(InputError):
        SecureAggregator("secagg", clip=1.0).aggregate(
            _updates(), [1] * 5, forged={-1: lambda h, q: h})


def test_an_honest_vector_is_what_encode_weighted_gives() -> None:
    got: list[np.ndarray] = []
    run_round("plain", _updates(), quantization=Q,
              forged={0: lambda h, q: got.append(h.copy()) or h}, entropy=seeded_entropy(3))
    assert got[0].shape == encode_weighted(_updates()[0], 1, Q).shape


def test_abort_messages_name_clients_by_position_at_every_layer() -> None:
    # SecAgg+ with 4 neighbours and 6 of 10 clients gone: some client's masks cannot
    # be recovered. The protocol names it by protocol id (position + 1); run_round and
    # the aggregator must name it by its position in the caller's list.
    import re

    updates = [np.full(4, 0.1)] * 10
    drops = {i: DropStage.MASKED_INPUT for i in (0, 1, 2, 3, 4, 5)}
    with pytest.raises(AbortError) as ours:
        run_round("secagg+", updates, dropouts=drops, neighbours=4, entropy=seeded_entropy(5))
    message = str(ours.value)
    (position,) = [int(p) for p in re.findall(r"client at position (\d+)", message)]
    assert 0 <= position < 10 and not re.search(r"client \d", message)
    # The same keys (same seed): the aggregator names the same client, by position.
    agg = SecureAggregator("secagg+", neighbours=4, entropy=seeded_entropy(5))
    with pytest.raises(AbortError, match=rf"client at position {position}\b"):
        agg.aggregate(updates, [1] * 10, dropouts=drops)


def test_one_clip_default_at_every_layer() -> None:
    import inspect

    from secagg.aggregator import make_aggregator
    from secagg.quantize import DEFAULT_CLIP
    from secagg.scenario import Scenario

    assert QuantizationConfig().clip == DEFAULT_CLIP
    assert SecureAggregator("secagg").clip == DEFAULT_CLIP
    assert inspect.signature(make_aggregator).parameters["clip"].default == DEFAULT_CLIP
    assert Scenario.__dataclass_fields__["clip"].default == DEFAULT_CLIP
    fl_config = pytest.importorskip("fl.config")
    assert fl_config.FLConfig().clip == DEFAULT_CLIP


def test_run_round_counts_what_clipping_changed(caplog: pytest.LogCaptureFixture) -> None:
    updates = [np.array([0.0, 2.0, -3.0, 0.5]), np.array([1.5, 0.0, 0.0, 0.0]),
               np.zeros(4), np.zeros(4)]
    with caplog.at_level("INFO", logger="secagg"):
        result = run_round("secagg", updates)  # clip 1.0
    assert result.clipped == 3
    assert "3 coordinates clipped" in caplog.text
    dropped = run_round("secagg", updates, dropouts={0: DropStage.MASKED_INPUT})
    assert dropped.clipped == 1  # only the counted clients' coordinates


def test_l2_clip_scales_each_update_and_counts_it() -> None:
    updates = [np.array([0.6, 0.8]), np.array([0.03, 0.04]), np.zeros(2)]
    agg = SecureAggregator("secagg", l2_clip=0.1)
    result = agg.aggregate(updates, [1, 1, 1])
    assert result.metrics.l2_clipped == 1
    assert np.allclose(result.mean, [(0.06 + 0.03) / 3, (0.08 + 0.04) / 3], atol=1e-4)
    assert np.array_equal(updates[0], [0.6, 0.8])  # the caller's array is untouched
    with pytest.raises(ConfigurationError):
        SecureAggregator("secagg", l2_clip=0.0)


@pytest.mark.parametrize(("n", "p"), [(2000, 0.1), (10_000, 0.01), (5000, 0.3), (10, 0.4)])
def test_the_secagg_plus_degree_is_sized_for_any_cohort(n: int, p: float) -> None:
    from secagg.aggregator import _binomial_quantile, secagg_plus_degree

    gone = _binomial_quantile(n, p, 1e-3)
    assert n * p <= gone <= n  # at least the mean: the quantile, not the mean
    k = secagg_plus_degree(n, p)
    assert 2 <= k <= n - 1
