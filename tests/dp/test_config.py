"""DPConfig: TFF's scale and sensitivity formulas, and bit-budget refusals."""

from __future__ import annotations

import math

import pytest

from secagg.dp import DPConfig, Mechanism
from secagg.dp.config import inflated_l2_norm_bound, k_stddevs
from secagg.errors import BitBudgetError, ConfigurationError

# TFF tensorflow_federated/python/aggregators/discretization_test.py (@19114c5c, L392-403):
# inflated_l2_norm_bound(l2_norm_bound, gamma, beta, dim) -> expected.
TFF_INFLATED = [
    (1.0, 1e-9, 0.0, 10**9, 1.0000316227766017),
    (1.0, 1e-2, 0.0, 10**9, 317.2277660168379),
    (1.0, 1e-2, 0.01, 10**9, 158.13231445360802),
    (1.0, 1e-2, 0.5, 10**9, 158.12296930808552),
]


@pytest.mark.parametrize(("clip", "gamma", "beta", "dim", "expected"), TFF_INFLATED)
def test_inflated_norm_bound_matches_tff(clip, gamma, beta, dim, expected) -> None:  # noqa: ANN001
    assert inflated_l2_norm_bound(clip, gamma, beta, dim) == pytest.approx(expected, rel=1e-12)


def test_scale_and_sensitivities_match_tff_worked_example() -> None:
    # z = 1, n = 100, b = 16, c = 0.1, d = 1000, p = 1e-4, Hadamard rotation: TFF's
    # DistributedDpSumFactory / google-research's heuristic_scale_factor give the scale;
    # the sensitivities are google-research's accounting_utils rounded_l2_norm_bound /
    # rounded_l1_norm_bound (TFF adds a float32 leeway of 1e-5 to the norm bound, which
    # float64 integer encoding does not need).
    config = DPConfig(Mechanism.DDG, 1.0, 0.1, 100, 16, 1000)
    assert config.padded_dim == 1024
    assert config.k == pytest.approx(3.890592, abs=1e-6)
    assert config.scale == pytest.approx(25669.331447, rel=1e-9)
    assert config.local_stddev == pytest.approx(0.01)
    assert config.l2_sensitivity == pytest.approx(0.10124662381899327 * config.scale, rel=1e-12)
    assert config.l1_sensitivity == 83166  # ceil(Delta_2 * min(sqrt(1024), Delta_2))
    beta = DPConfig(Mechanism.DDG, 1.0, 0.1, 100, 16, 1000, beta=math.exp(-0.5))
    assert beta.l2_sensitivity == pytest.approx(0.10002154017775076 * beta.scale, rel=1e-12)
    assert beta.l1_sensitivity == math.ceil(beta.l2_sensitivity * 32)
    big = DPConfig(Mechanism.SKELLAM, 0.7, 1.0, 1000, 20, 100_000)
    assert big.padded_dim == 131072
    assert big.scale == pytest.approx(47292.515565, rel=1e-9)
    assert big.l1_sensitivity == math.ceil(big.l2_sensitivity * math.sqrt(131072))


def test_k_is_the_two_sided_normal_quantile() -> None:
    from scipy.stats import norm

    for p in (1e-2, 1e-4, 1e-6):
        assert 2 * norm.sf(k_stddevs(p)) == pytest.approx(p, rel=1e-9)


def test_too_few_bits_are_refused_with_the_smallest_that_would_do() -> None:
    with pytest.raises(BitBudgetError, match="at least 10 bits") as err:
        DPConfig(Mechanism.DDG, 1.0, 0.1, 100, 4, 1000)
    assert "100 clients" in str(err.value)
    config = DPConfig(Mechanism.DDG, 1.0, 0.1, 100, 10, 1000)  # the bits it named do
    # ... where rounding at most doubles the sensitivity; one bit fewer does not
    assert config.inflated_l2_bound() <= 2 * config.l2_clip
    with pytest.raises(BitBudgetError):
        DPConfig(Mechanism.DDG, 1.0, 0.1, 100, 9, 1000)


def test_the_backends_budget_sums_without_wraparound() -> None:
    config = DPConfig(Mechanism.DDG, 1.0, 0.1, 50, 16, 1000)
    quant = config.quantization
    assert quant.max_input == 2**16 - 1 and quant.max_weight == 1
    assert quant.k >= 16 + math.ceil(math.log2(50))


def test_dropout_raises_each_clients_noise() -> None:
    full = DPConfig(Mechanism.SKELLAM, 1.0, 1.0, 20, 20, 100)
    tolerant = DPConfig(Mechanism.SKELLAM, 1.0, 1.0, 20, 20, 100, dropout=0.25)
    assert tolerant.local_stddev**2 == pytest.approx(full.local_stddev**2 / 0.75)


@pytest.mark.parametrize(
    "changes",
    [
        {"mechanism": "laplace"},
        {"noise_multiplier": -1.0},
        {"noise_multiplier": float("nan")},
        {"l2_clip": 0.0},
        {"expected_clients": 0},
        {"bits": 40},
        {"dim": 0},
        {"mod_clip_prob": 1.0},
        {"beta": 1.0},
        {"dropout": 1.0},
        {"noise_multiplier": True},
    ],
)
def test_impossible_parameters_are_refused(changes: dict) -> None:
    base = {
        "mechanism": "ddg", "noise_multiplier": 1.0, "l2_clip": 1.0, "expected_clients": 10,
        "bits": 16, "dim": 100,
    }  # fmt: skip
    with pytest.raises(ConfigurationError):
        DPConfig(**{**base, **changes})
