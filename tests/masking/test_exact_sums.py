"""The unmasked sum equals the plain sum of the survivors' inputs, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secagg.masking import Graph, MaskingConfig
from secagg.masking.config import default_neighbours
from secagg.result import DropStage
from secagg.simulation import simulate_masking

from .conftest import quantization_for, random_inputs


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(3, 16),
    graph=st.sampled_from(list(Graph)),
    bits=st.sampled_from([6, 13, 22, 32, 41, 64]),
    dim=st.integers(1, 70),
    data=st.data(),
)
def test_exact_sum_over_random_configurations(n, graph, bits, dim, data) -> None:
    degree = n - 1 if graph is Graph.COMPLETE else default_neighbours(n)
    t = data.draw(st.integers(degree // 2 + 1, degree))
    config = MaskingConfig(n, dim, quantization_for(n, bits), graph, degree, t)
    inputs = random_inputs(config, data.draw(st.integers(0, 2**32)))
    # Drop one client at a random stage when the neighbourhoods can spare it.
    dropouts = {}
    if degree - 1 >= t and data.draw(st.booleans()):
        dropouts[data.draw(st.integers(1, n))] = data.draw(st.sampled_from(list(DropStage)))
    run = simulate_masking(config, inputs, dropouts)
    expected = sum(inputs[c].astype(object) for c in run.outcome.survivors) % (2**bits)
    assert [int(v) for v in run.outcome.aggregate] == list(expected)
    dropped_before_upload = {
        c for c, s in dropouts.items() if s is not DropStage.UNMASKING
    }
    assert set(run.outcome.survivors) == set(range(1, n + 1)) - dropped_before_upload


def test_masked_inputs_do_not_reveal_the_input(make_round) -> None:
    r = make_round(n=5, dim=64)
    r.run()
    from secagg.masking import MaskedInput

    for c, data in r.sent["upload"].items():
        masked = MaskedInput.decode(data, r.config).vector()
        # A masked vector agreeing with its input on more than a few coordinates
        # would mean the masks were missing (chance agreement is 2^-22 each).
        assert np.count_nonzero(masked == r.inputs[c]) <= 1


def test_secagg_plus_uses_a_sparse_regular_graph(make_round) -> None:
    r = make_round(n=40, graph=Graph.HARARY, dim=8)
    outcome = r.run()
    degrees = {len(r.server.neighbours_of(c)) for c in r.clients}
    assert degrees == {r.config.neighbours} and r.config.neighbours < 39
    assert all(c in r.server.neighbours_of(n) for c in r.clients for n in r.server.neighbours_of(c))
    assert np.array_equal(outcome.aggregate, r.expected_sum(r.clients))


def _hypergeometric_failure(n: int, gone: int, k: int, t: int | None = None) -> float:
    """Union bound over clients of P[fewer than t (default k/2 + 1) of k neighbours live]."""
    from math import comb

    t = k // 2 + 1 if t is None else t
    others = n - 1
    tail = sum(comb(gone, x) * comb(others - gone, k - x) for x in range(k - t + 1, k + 1))
    return n * tail / comb(others, k)


@pytest.mark.parametrize("n", [10, 50, 200, 1000])
@pytest.mark.parametrize("dropout", [0.0, 0.1, 0.3, 0.5])
def test_neighbours_for_dropout_is_the_smallest_degree_within_the_bound(n, dropout) -> None:
    from secagg.masking import neighbours_for_dropout

    k = neighbours_for_dropout(n, dropout)
    gone = round(dropout * n)
    assert k % 2 == 0 or k == n - 1
    assert default_neighbours(n) <= k <= n - 1
    if k < n - 1:
        assert _hypergeometric_failure(n, gone, k) <= 1e-3
    if k - 2 >= default_neighbours(n):
        assert _hypergeometric_failure(n, gone, k - 2) > 1e-3


@pytest.mark.parametrize("n", [50, 200, 1000])
def test_the_malicious_degree_survives_dropout_with_its_higher_threshold(n) -> None:
    from secagg.masking import corrupt_neighbours, malicious_threshold, neighbours_for_dropout

    corrupt = n // 20

    def threshold(k: int) -> int:
        return malicious_threshold(k, corrupt_neighbours(Graph.HARARY, n, k, corrupt))

    k = neighbours_for_dropout(n, 0.1, max_corrupt=corrupt)
    gone = round(0.1 * n)
    assert k > neighbours_for_dropout(n, 0.1)  # the higher threshold needs more neighbours
    if k < n - 1:
        assert threshold(k) <= k
        assert _hypergeometric_failure(n, gone, k, threshold(k)) <= 1e-3
    smaller = k - 2
    if smaller >= default_neighbours(n):
        t = threshold(smaller)
        assert t > smaller or _hypergeometric_failure(n, gone, smaller, t) > 1e-3


def test_neighbours_for_dropout_refuses_a_negative_collusion_bound() -> None:
    from secagg.errors import ConfigurationError
    from secagg.masking import neighbours_for_dropout

    with pytest.raises(ConfigurationError):
        neighbours_for_dropout(50, 0.1, max_corrupt=-1)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_secagg_plus_at_30_percent_dropout_completes_with_the_chosen_degree(seed: int) -> None:
    from secagg.masking import neighbours_for_dropout

    rng = np.random.default_rng(seed)
    config = MaskingConfig.create(
        Graph.HARARY, 40, 16, quantization_for(40, 22), neighbours_for_dropout(40, 0.3)
    )
    assert config.neighbours > default_neighbours(40)
    inputs = random_inputs(config, seed)
    gone = rng.choice(np.arange(1, 41), size=12, replace=False)
    stages = list(DropStage)
    run = simulate_masking(config, inputs, {int(c): stages[int(c) % 4] for c in gone})
    expected = sum(inputs[c].astype(object) for c in run.outcome.survivors) % (2**22)
    assert [int(v) for v in run.outcome.aggregate] == list(expected)
