from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import BitBudgetError, ConfigurationError, InputError, NonFiniteInputError
from secagg.quantize import QuantizationConfig, dequantize, quantize, required_modulus_bits
from secagg.weighting import decode_weighted, encode_weighted


def test_budget_is_checked_when_the_config_is_made() -> None:
    assert QuantizationConfig(bits=16, max_clients=50).k == 22  # 50 * 65535 < 2^22
    with pytest.raises(BitBudgetError):
        QuantizationConfig(bits=16, max_clients=50, modulus_bits=21)
    with pytest.raises(BitBudgetError):
        QuantizationConfig(bits=32, max_clients=2**20, max_weight=2**20)
    assert required_modulus_bits(16, 50, 1000) == (50 * 1000 * 65535).bit_length()


@pytest.mark.parametrize(
    "kwargs",
    [{"clip": 0.0}, {"clip": float("inf")}, {"bits": 0}, {"bits": 33}, {"max_clients": 0}],
)
def test_bad_configs_are_refused(kwargs) -> None:
    with pytest.raises(ConfigurationError):
        QuantizationConfig(**kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises(bad: float, entropy) -> None:
    x = np.zeros(10, dtype=np.float32)
    x[3] = bad
    with pytest.raises(NonFiniteInputError):
        quantize(x, QuantizationConfig(), entropy)


def test_non_vector_input_raises(entropy) -> None:
    with pytest.raises(InputError):
        quantize(np.zeros((2, 2), dtype=np.float32), QuantizationConfig(), entropy)


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.floats(-3, 3, width=32), min_size=1, max_size=50),
    bits=st.integers(1, 24),
)
def test_range_and_error_bound(values: list[float], bits: int) -> None:
    config = QuantizationConfig(clip=1.0, bits=bits, max_clients=4)
    x = np.array(values, dtype=np.float32)
    q = quantize(x, config)
    assert int(q.max()) <= config.levels
    back = dequantize(q, 1, config)
    step = 2 * config.clip / config.levels
    assert np.all(np.abs(back - np.clip(x, -1, 1)) <= step + 1e-9)


def test_stochastic_rounding_is_unbiased() -> None:
    config = QuantizationConfig(clip=1.0, bits=4, max_clients=1)
    x = np.full(200_000, 0.123, dtype=np.float32)
    mean = dequantize(quantize(x, config), 1, config).mean()
    step = 2 / 15
    # A deterministic rounding would be off by up to step/2 = 0.067; unbiased rounding
    # averages to the input within a few standard errors (sigma ~ step/2/sqrt(n)).
    assert abs(mean - 0.123) < 5 * step / 2 / np.sqrt(x.size)


def test_weighted_layout_hides_nothing_but_sums(entropy) -> None:
    config = QuantizationConfig(clip=1.0, bits=8, max_clients=3, max_weight=10)
    xs = [np.full(4, v, dtype=np.float32) for v in (-1.0, 0.0, 1.0)]
    weights = [1, 3, 6]
    total = sum(encode_weighted(x, w, config, entropy) for x, w in zip(xs, weights, strict=True))
    result = decode_weighted(total % (1 << config.k), config)
    assert result.total_weight == 10
    assert np.allclose(result.mean, (-1 * 1 + 0 * 3 + 1 * 6) / 10, atol=2 / 255)


@pytest.mark.parametrize("weight", [0, 11, 2.5, True])
def test_weight_outside_the_budget_is_refused(weight, entropy) -> None:
    config = QuantizationConfig(max_clients=3, max_weight=10)
    with pytest.raises(InputError):
        encode_weighted(np.zeros(3, dtype=np.float32), weight, config, entropy)
