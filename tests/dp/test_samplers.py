"""The noise samplers against exact probability mass functions, with seeded entropy so
every statistical check is deterministic."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

from secagg.dp.samplers import (
    discrete_gaussian,
    discrete_gaussian_table,
    exact_discrete_gaussian,
    exact_discrete_laplace,
    skellam,
    skellam_table,
)
from secagg.errors import ConfigurationError

from ..conftest import CountingEntropy


def _exact_dg_pmf(sigma2: float, support: range) -> dict[int, float]:
    mpmath.mp.dps = 40
    weights = {x: mpmath.e ** (-mpmath.mpf(x) ** 2 / (2 * mpmath.mpf(sigma2))) for x in support}
    total = mpmath.fsum(weights.values())
    # the mass outside `support` is below 1e-40 for the supports used here
    return {x: float(w / total) for x, w in weights.items()}


def _exact_skellam_pmf(variance: float, support: range) -> dict[int, float]:
    mpmath.mp.dps = 40
    mu = mpmath.mpf(variance) / 2
    return {x: float(mpmath.e ** (-2 * mu) * mpmath.besseli(abs(x), 2 * mu)) for x in support}


def _tv(samples: np.ndarray, pmf: dict[int, float]) -> float:
    values, counts = np.unique(samples, return_counts=True)
    empirical = dict(zip(values.tolist(), (counts / samples.size).tolist(), strict=True))
    keys = set(pmf) | set(empirical)
    return 0.5 * sum(abs(pmf.get(k, 0.0) - empirical.get(k, 0.0)) for k in keys)


def _chi_square(samples: np.ndarray, pmf: dict[int, float], min_expected: float = 20.0) -> tuple[float, int]:
    """Pearson's statistic over bins with at least ``min_expected`` expected counts (the
    rest pooled into one bin), and its degrees of freedom."""
    n = samples.size
    values, counts = np.unique(samples, return_counts=True)
    observed = dict(zip(values.tolist(), counts.tolist(), strict=True))
    stat, bins, pooled_e, pooled_o = 0.0, 0, 0.0, 0
    for x, p in pmf.items():
        expected = n * p
        if expected >= min_expected:
            stat += (observed.get(x, 0) - expected) ** 2 / expected
            bins += 1
        else:
            pooled_e += expected
            pooled_o += observed.get(x, 0)
    pooled_o += sum(c for x, c in observed.items() if x not in pmf)
    if pooled_e > 0:
        stat += (pooled_o - pooled_e) ** 2 / pooled_e
        bins += 1
    return stat, bins - 1


# 99.9% quantiles of chi-square: a fixed seed makes each check deterministic, and a
# correct sampler passes all of these with margin.
def _critical(df: int) -> float:
    from scipy.stats import chi2

    return float(chi2.ppf(0.999, df))


@pytest.mark.parametrize("sigma2", [0.25, 1.0, 7.5, 400.0])
def test_the_discrete_gaussian_matches_its_pmf(sigma2: float) -> None:
    bound = math.ceil(12 * math.sqrt(sigma2)) + 2
    pmf = _exact_dg_pmf(sigma2, range(-bound, bound + 1))
    samples = discrete_gaussian(sigma2, 200_000, CountingEntropy(b"dg-%f" % sigma2))
    stat, df = _chi_square(samples, pmf)
    assert stat < _critical(df)
    assert _tv(samples, pmf) < 0.01


@pytest.mark.parametrize("variance", [0.5, 2.0, 30.0, 900.0])
def test_skellam_matches_its_pmf(variance: float) -> None:
    bound = math.ceil(14 * math.sqrt(variance)) + 3
    pmf = _exact_skellam_pmf(variance, range(-bound, bound + 1))
    samples = skellam(variance, 200_000, CountingEntropy(b"sk-%f" % variance))
    stat, df = _chi_square(samples, pmf)
    assert stat < _critical(df)


def test_the_fast_sampler_agrees_with_the_exact_oracle() -> None:
    # Canonne-Kamath-Steinke's exact rational sampler against the table sampler: the
    # same distribution, so a two-sample chi-square test does not reject.
    sigma2 = Fraction(9, 4)
    entropy = CountingEntropy(b"oracle")
    exact = np.array([exact_discrete_gaussian(sigma2, entropy) for _ in range(6000)])
    fast = discrete_gaussian(float(sigma2), 6000, CountingEntropy(b"fast"))
    from scipy.stats import chi2_contingency

    support = range(-6, 7)
    table = [[int(np.sum(exact == x)) for x in support], [int(np.sum(fast == x)) for x in support]]
    keep = [i for i in range(len(support)) if table[0][i] + table[1][i] >= 10]
    _, p_value, _, _ = chi2_contingency([[row[i] for i in keep] for row in table])
    assert p_value > 0.001
    pmf = _exact_dg_pmf(float(sigma2), range(-15, 16))
    assert _tv(exact, pmf) < 0.03


def test_the_discrete_laplace_oracle_matches_its_pmf() -> None:
    t = Fraction(3, 2)
    entropy = CountingEntropy(b"laplace")
    samples = np.array([exact_discrete_laplace(t, entropy) for _ in range(8000)])
    weights = {x: math.exp(-abs(x) / float(t)) for x in range(-40, 41)}
    total = sum(weights.values())
    stat, df = _chi_square(samples, {x: w / total for x, w in weights.items()})
    assert stat < _critical(df)


@pytest.mark.parametrize("n", [1, 4, 16])
def test_the_summed_noise_has_the_variance_it_should(n: int) -> None:
    # n clients each add noise of variance total / n: the sum has variance `total`.
    total = 64.0**2
    entropy = CountingEntropy(b"sum-%d" % n)
    for sample in (discrete_gaussian, skellam):
        parts = [sample(total / n, 50_000, entropy) for _ in range(n)]
        summed = np.sum(parts, axis=0)
        assert abs(summed.mean()) < 5 * math.sqrt(total / 50_000)
        assert summed.var() == pytest.approx(total, rel=0.03)


def test_tables_state_their_total_variation_bound() -> None:
    for variance in (0.25, 3.0, 2600.0**2):
        for table in (discrete_gaussian_table(variance), skellam_table(variance)):
            assert 0 < table.tv_bound() < 1e-30


@pytest.mark.parametrize("variance", [0.5, 7.0, 120.0])
def test_the_tables_hold_the_exact_probabilities(variance: float) -> None:
    # The 128-bit thresholds against 40-digit pmfs: every cell within 1e-30.
    for table, exact in (
        (discrete_gaussian_table(variance), _exact_dg_pmf),
        (skellam_table(variance), _exact_skellam_pmf),
    ):
        b = table.bound
        pmf = exact(variance, range(-b, b + 1))
        thresholds = [(int(h) << 64) | int(lo) for h, lo in zip(table.high, table.low, strict=True)]
        edges = [0, *thresholds, 1 << 128]
        cells = [(hi - lo) / 2.0**128 for lo, hi in zip(edges, edges[1:], strict=False)]
        worst = max(abs(c - pmf[x]) for c, x in zip(cells, range(-b, b + 1), strict=True))
        assert worst < 1e-15  # float64 view of both sides; the tables are far finer


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_impossible_variances_are_refused(bad: float) -> None:
    with pytest.raises(ConfigurationError):
        discrete_gaussian(bad, 3, CountingEntropy())


def test_a_table_too_large_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="fewer bits"):
        discrete_gaussian(1e12, 3, CountingEntropy())


@pytest.mark.parametrize("variance", [0.3, 50.0, 41000.0**2])
def test_the_fast_lookup_is_the_exact_128_bit_count(variance: float) -> None:
    import bisect

    table = discrete_gaussian_table(variance)
    thresholds = [(int(h) << 64) | int(lo) for h, lo in zip(table.high, table.low, strict=True)]
    rng = np.random.default_rng(7)
    high = rng.integers(0, 2**64, 3000, dtype=np.uint64)
    low = rng.integers(0, 2**64, 3000, dtype=np.uint64)
    # words tied with thresholds' high words (the low words decide), in the centre and
    # in the tails, and words equal to thresholds
    picks = rng.integers(0, len(thresholds), 300)
    high[:300] = table.high[picks]
    low[:150] = table.low[picks[:150]]
    low[150:300] = table.low[picks[150:300]] - np.uint64(1)
    high[300:310] = table.high[:10]
    high[310:320] = table.high[-10:]
    got = table.locate(high, low)
    words = [(int(h) << 64) | int(lo) for h, lo in zip(high, low, strict=True)]
    want = [bisect.bisect_right(thresholds, w) - table.bound for w in words]
    assert got.tolist() == want
