"""Robust rules: each stays bounded by the honest inputs while fewer than its breakdown
fraction of inputs are arbitrary, and refuses parameters that do not fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import ConfigurationError, InputError
from secagg.robust import (
    RobustRule,
    apply_rule,
    coordinate_median,
    multi_krum,
    norm_bounded_mean,
    trimmed_mean,
)

# Byzantine inputs: anything finite, from tiny to enormous, any sign.
BIG = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@st.composite
def honest_and_byzantine(draw: st.DrawFn, *, max_fraction: float, min_n: int = 1):
    d = draw(st.integers(1, 6))
    n = draw(st.integers(min_n, 15))
    f = draw(st.integers(0, max(0, math.ceil(max_fraction * n) - 1)))
    f = min(f, n - 1)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    honest = rng.normal(draw(st.floats(-5, 5)), draw(st.floats(0.01, 3)), size=(n - f, d))
    byz = np.array(draw(st.lists(st.lists(BIG, min_size=d, max_size=d), min_size=f,
                                 max_size=f))).reshape(f, d)
    order = rng.permutation(n)
    x = np.concatenate([honest, byz])[order]
    return x, honest, f, order >= n - f


def _within_honest_range(out: np.ndarray, honest: np.ndarray) -> None:
    tol = 1e-9 * (1 + np.abs(honest).max())
    assert np.all(out >= honest.min(axis=0) - tol)
    assert np.all(out <= honest.max(axis=0) + tol)


@settings(max_examples=150, deadline=None)
@given(honest_and_byzantine(max_fraction=0.5))
def test_median_stays_in_the_honest_range_below_half(case) -> None:
    x, honest, f, _ = case
    assert 2 * f < len(x)
    _within_honest_range(coordinate_median(x).value, honest)


@settings(max_examples=150, deadline=None)
@given(honest_and_byzantine(max_fraction=0.5, min_n=3), st.data())
def test_trimmed_mean_stays_in_the_honest_range_when_trimming_f(case, data) -> None:
    x, honest, f, _ = case
    trim = data.draw(st.integers(f, (len(x) - 1) // 2))
    _within_honest_range(trimmed_mean(x, trim).value, honest)


@settings(max_examples=150, deadline=None)
@given(honest_and_byzantine(max_fraction=0.5, min_n=3))
def test_multi_krum_within_its_bound_of_the_honest_mean(case) -> None:
    x, honest, f, _ = case
    n = len(x)
    if n < 2 * f + 3:
        with pytest.raises(ConfigurationError):
            multi_krum(x, f)
        return
    out = multi_krum(x, f).value
    diam = max(
        (np.linalg.norm(a - b) for a in honest for b in honest), default=0.0
    )
    bound = (math.sqrt(n - f - 2) + 1) * diam
    assert np.linalg.norm(out - honest.mean(axis=0)) <= bound * (1 + 1e-6) + 1e-6


@settings(max_examples=150, deadline=None)
@given(honest_and_byzantine(max_fraction=0.5), st.floats(0.1, 10))
def test_norm_bound_limits_each_input_to_bound_over_n(case, bound) -> None:
    x, _, f, byz = case
    n = len(x)
    out = norm_bounded_mean(x, bound).value
    assert np.linalg.norm(out) <= bound * (1 + 1e-9)
    # Zeroing the Byzantine rows moves the mean by at most f * bound / n.
    cleaned = x.copy()
    cleaned[byz] = 0.0
    ref = norm_bounded_mean(cleaned, bound).value
    assert np.linalg.norm(out - ref) <= f * bound / n * (1 + 1e-9) + 1e-12


@settings(max_examples=100, deadline=None)
@given(honest_and_byzantine(max_fraction=0.5, min_n=3))
def test_adaptive_norm_bound_stays_within_the_largest_honest_norm(case) -> None:
    x, honest, _, _ = case
    out = norm_bounded_mean(x).value
    assert np.linalg.norm(out) <= np.linalg.norm(honest, axis=1).max() * (1 + 1e-9)


def test_plain_mean_is_broken_by_one_input() -> None:
    # The reason for all of the above: the mean has breakdown point 0.
    x = np.zeros((10, 3))
    x[0] = 1e9
    assert apply_rule("none", x).value.max() == pytest.approx(1e8)
    assert apply_rule("median", x).value.max() == 0.0


def test_multi_krum_rejects_the_outliers() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.1, size=(9, 4))
    x[[2, 7]] = 50.0
    outcome = multi_krum(x, 2)
    assert outcome.rejected == (2, 7)
    assert np.allclose(outcome.value, np.delete(x, [2, 7], axis=0).mean(axis=0))


def test_trimmed_mean_and_median_known_answers() -> None:
    x = np.array([[1.0], [2.0], [3.0], [100.0], [-50.0]])
    assert trimmed_mean(x, 1).value.tolist() == [2.0]
    assert trimmed_mean(x, 1).trimmed == 2
    assert coordinate_median(x).value.tolist() == [2.0]
    assert coordinate_median(np.array([[1.0], [3.0]])).value.tolist() == [2.0]


def test_norm_bound_reports_clipped_inputs() -> None:
    x = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    outcome = norm_bounded_mean(x, 1.0)
    assert outcome.clipped == (0,)
    assert np.allclose(outcome.value, [(0.6 + 0.3) / 3, (0.8 + 0.4) / 3])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: trimmed_mean(np.zeros((4, 2)), 2), ConfigurationError),
        (lambda: trimmed_mean(np.zeros((4, 2)), -1), ConfigurationError),
        (lambda: trimmed_mean(np.zeros((4, 2)), 1.0), ConfigurationError),
        (lambda: multi_krum(np.zeros((4, 2)), 1), ConfigurationError),
        (lambda: multi_krum(np.zeros((2, 2)), 0), ConfigurationError),
        (lambda: multi_krum(np.zeros((5, 2)), 1, m=5), ConfigurationError),
        (lambda: norm_bounded_mean(np.zeros((4, 2)), 0.0), ConfigurationError),
        (lambda: norm_bounded_mean(np.zeros((4, 2)), math.inf), ConfigurationError),
        (lambda: apply_rule("mode", np.zeros((4, 2))), ConfigurationError),
        (lambda: apply_rule("median", np.zeros((4, 2)), fraction=0.5), ConfigurationError),
        (lambda: coordinate_median([]), InputError),
        (lambda: coordinate_median([np.zeros(2), np.zeros(3)]), InputError),
        (lambda: coordinate_median([np.array([0.0, np.nan])]), InputError),
        (lambda: coordinate_median([np.zeros((2, 2))]), InputError),
    ],
)
def test_bad_parameters_and_inputs_are_refused(call, error) -> None:
    with pytest.raises(error):
        call()


@pytest.mark.parametrize("rule", [r.value for r in RobustRule])
def test_every_rule_is_the_mean_on_identical_inputs(rule: str) -> None:
    x = np.tile(np.array([0.5, -2.0, 3.0]), (7, 1))
    assert np.allclose(apply_rule(rule, x).value, x[0])
