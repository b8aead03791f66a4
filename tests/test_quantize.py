from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import (
    BitBudgetError,
    ConfigurationError,
    InputError,
    NonFiniteInputError,
    WeightError,
)
from secagg.quantize import (
    QuantizationConfig,
    count_clipped,
    dequantize,
    quantization_error_bound,
    quantize,
    required_modulus_bits,
)
from secagg.weighting import decode_weighted, encode_weighted

# The module itself: the package attribute secagg.quantize is the function.
quantize_module = importlib.import_module("secagg.quantize")


def test_budget_is_checked_when_the_config_is_made() -> None:
    assert QuantizationConfig(bits=16, max_clients=50).k == 22  # 50 * 65535 < 2^22
    with pytest.raises(BitBudgetError):
        QuantizationConfig(bits=16, max_clients=50, modulus_bits=21)
    with pytest.raises(BitBudgetError):
        QuantizationConfig(bits=32, max_clients=2**20, max_weight=2**20)
    assert required_modulus_bits(16, 50, 1000) == (50 * 1000 * 65535).bit_length()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clip": 0.0},
        {"clip": -1.0},
        {"clip": float("inf")},
        {"clip": float("nan")},
        {"clip": 1e-310},  # subnormal: levels / (2 clip) overflows
        {"clip": 5e-324},
        {"clip": 1e-300},  # normal, but the scale times 2^32 overflows
        {"clip": 1e308},  # 2 clip overflows to inf
        {"clip": 10**400},  # an int beyond the float range
        {"clip": True},
        {"clip": "1.0"},
        {"clip": None},
        {"clip": 1 + 0j},
        {"bits": 0},
        {"bits": 33},
        {"bits": "x"},
        {"bits": 16.0},
        {"bits": True},
        {"bits": None},
        {"bits": np.float64(8)},
        {"bits": float("nan")},
        {"max_clients": 0},
        {"max_clients": 2**32 - 1},  # client ids are 32-bit and one value is reserved
        {"max_clients": 2.0},
        {"max_clients": None},
        {"max_clients": np.bool_(True)},
        {"max_weight": 0},
        {"max_weight": 1.5},
        {"max_weight": False},
        {"max_weight": "3"},
        {"modulus_bits": 32.0},
        {"modulus_bits": "32"},
        {"modulus_bits": True},
        {"modulus_bits": 0},
        {"modulus_bits": 65},
    ],
)
def test_bad_configs_are_refused(kwargs) -> None:
    with pytest.raises(ConfigurationError):
        QuantizationConfig(**kwargs)


def test_type_errors_name_the_field() -> None:
    with pytest.raises(ConfigurationError, match="quantization bits must be an integer, got str"):
        QuantizationConfig(bits="x")
    with pytest.raises(ConfigurationError, match="clip must be a number, got bool"):
        QuantizationConfig(clip=True)
    with pytest.raises(ConfigurationError, match=r"max_clients must be in 1\.\.4294967294"):
        QuantizationConfig(bits=1, max_clients=2**32 - 1)


def test_numpy_scalars_are_accepted_and_normalised() -> None:
    config = QuantizationConfig(
        clip=np.float32(0.5),
        bits=np.int8(8),
        max_clients=np.uint32(3),
        max_weight=np.int64(2),
        modulus_bits=np.uint64(12),
    )
    assert config == QuantizationConfig(
        clip=0.5, bits=8, max_clients=3, max_weight=2, modulus_bits=12
    )
    assert type(config.clip) is float and type(config.bits) is int and type(config.k) is int
    assert type(config.max_clients) is int and type(config.max_weight) is int
    assert QuantizationConfig(clip=3).clip == 3.0
    assert QuantizationConfig(bits=1, max_clients=2**32 - 2).k == 32


@pytest.mark.parametrize(
    "args", [("x", 10), (16.0, 10), (16, 0), (16, True), (0, 10), (16, 10, None), (16, 10, 0.5)]
)
def test_required_modulus_bits_refuses_bad_arguments(args) -> None:
    with pytest.raises(ConfigurationError):
        required_modulus_bits(*args)


@settings(max_examples=300, deadline=None)
@given(
    clip=st.floats(min_value=0, allow_nan=False, allow_subnormal=True, allow_infinity=True),
    bits=st.sampled_from([1, 2, 8, 16, 24, 31, 32]),
)
def test_every_accepted_clip_quantizes_without_overflow(clip: float, bits: int) -> None:
    try:
        config = QuantizationConfig(clip=clip, bits=bits, max_clients=2)
    except ConfigurationError:
        return
    x = np.array(
        [-clip, -clip / 3, 0.0, clip / 7, clip, -np.finfo(np.float64).max], dtype=np.float64
    )
    with np.errstate(all="raise"):  # any overflow, underflow to subnormal or NaN fails the test
        q = quantize(x, config)
        back = dequantize(q, 1, config)
        bound = quantization_error_bound(config)
    assert np.isfinite(bound) and bound >= np.finfo(np.float64).tiny
    assert int(q.max()) <= config.levels and q[0] == 0 and q[-1] == 0 and q[4] == config.levels
    assert np.all(np.isfinite(back))


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


# --- the top of the range: 2^b - 1, never wrapped to 0 ------------------------------


def _fixed_noise(word: int):  # type: ignore[no-untyped-def]
    """A stand-in for the rounding PRG: every noise word equals ``word`` (0 or 2^32 - 1)."""

    class Keystream:
        def __init__(self, seed: bytes, context: bytes, dtype: type) -> None:
            pass

        def next_words(self, count: int) -> np.ndarray:
            return np.full(count, word, dtype=np.uint32)

    return Keystream


@pytest.mark.parametrize("bits", [1, 2, 8, 16, 24, 31, 32])
@pytest.mark.parametrize("clip", [1.0, 0.1, 3.7e4, 1e-6, 7])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_clip_maps_to_the_ends_even_with_extreme_noise(
    monkeypatch: pytest.MonkeyPatch, bits: int, clip: float, dtype: type[np.floating]
) -> None:
    config = QuantizationConfig(clip=clip, bits=bits, max_clients=1)
    with np.errstate(over="ignore"):
        x = np.array([clip, -clip, 10 * clip, -10 * clip], dtype=np.float64).astype(dtype)
    x = x[np.isfinite(x)]  # float16 cannot hold 3.7e5 (10 * clip)
    exact = x.astype(np.float64)  # compare exactly: float16/32 round clip up or down
    high, low = exact >= clip, exact <= -clip
    for word in (0, 2**32 - 1):
        monkeypatch.setattr(quantize_module, "Keystream", _fixed_noise(word))
        q = quantize(x, config)
        assert int(q.max()) <= config.levels
        # Values at or below -clip give exactly 0, whatever the noise.
        assert np.all(q[low] == 0)
        if word:
            # The largest noise gives exactly 2^b - 1 at or beyond +clip: no wrap-around.
            assert np.all(q[high] == config.levels)
        else:
            # Zero noise is the floor of v, and v at +clip may come out one float rounding
            # below 2^b - 1 (the rounding is exact only "to within 2^-32").
            assert np.all(q[high] >= config.levels - 1)


def test_32_bit_values_at_clip_never_wrap_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: at b = 32, v * 2^32 + u rounds to 2^64 for noise u near 2^32, and the
    # float was cast to uint32 (2^32 -> 0, i.e. -clip) before the clamp.
    config = QuantizationConfig(clip=1.0, bits=32, max_clients=1)
    assert config.k == 32
    below = np.nextafter(1.0, 0.0, dtype=np.float64)
    x = np.array([1.0] * 1000 + [below] * 1000 + [np.nextafter(np.float64(below), 0)] * 1000)
    monkeypatch.setattr(quantize_module, "Keystream", _fixed_noise(2**32 - 1))
    q = quantize(x, config)
    assert q.dtype == np.uint32
    assert np.all(q == 2**32 - 1)


def test_32_bit_values_at_clip_with_real_noise(entropy) -> None:  # type: ignore[no-untyped-def]
    # Noise above 2^32 - 2^10 (probability 2^-22 per coordinate) used to hit the bug:
    # 2^22 coordinates at +clip met it about once.
    for k_clients in (1, 100):  # uint32 (k = 32) and uint64 (k = 39) results
        config = QuantizationConfig(clip=1.0, bits=32, max_clients=k_clients)
        x = np.ones(1 << 22, dtype=np.float32)
        q = quantize(x, config, entropy)
        assert int(q.min()) == int(q.max()) == 2**32 - 1
        just_below = np.full(1 << 16, np.nextafter(np.float32(1), np.float32(0)))
        q = quantize(just_below, config, entropy)
        assert int(q.min()) >= 2**32 - 2**9 and int(q.max()) <= 2**32 - 1  # never 0


def test_float32_input_with_an_inexact_clip_stays_in_range(entropy) -> None:  # type: ignore[no-untyped-def]
    # float32(0.1) > 0.1: clipping in float32 left -float32(0.1) + 0.1 < 0, which wrapped
    # to about +clip at b = 32. Clipping in float64 maps it to exactly 0.
    config = QuantizationConfig(clip=0.1, bits=32, max_clients=1)
    x = np.array([-0.1] * 1000 + [0.1] * 1000, dtype=np.float32)
    q = quantize(x, config, entropy)
    assert np.all(q[:1000] == 0) and np.all(q[1000:] == config.levels)


def test_quantize_refuses_ragged_and_non_float_input() -> None:
    config = QuantizationConfig()
    for bad in ([[1.0], [1.0, 2.0]], "abc", np.arange(3), np.zeros(3, dtype=complex), None):
        with pytest.raises(InputError):
            quantize(bad, config)  # type: ignore[arg-type]


# --- count_clipped -----------------------------------------------------------------


def test_count_clipped_counts_coordinates_beyond_the_clip() -> None:
    config = QuantizationConfig(clip=1.0)
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0000001, 3.0], dtype=np.float32)
    assert count_clipped(x, config) == 3
    assert count_clipped(np.zeros(0, dtype=np.float64), config) == 0
    assert count_clipped([0.5, 2.0], config) == 1
    assert isinstance(count_clipped(x, config), int)


def test_count_clipped_is_exact_for_narrow_dtypes() -> None:
    config = QuantizationConfig(clip=0.1)
    assert count_clipped(np.array([0.1, -0.1], dtype=np.float32), config) == 2  # > 0.1
    assert count_clipped(np.array([0.1, -0.1], dtype=np.float64), config) == 0
    assert count_clipped(np.array([0.099], dtype=np.float16), config) == 0  # 0.09899 < 0.1
    huge = QuantizationConfig(clip=1e6)  # above the float16 range
    assert count_clipped(np.array([65504, -65504], dtype=np.float16), huge) == 0


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, width=32), max_size=40),
    clip=st.floats(1e-3, 1e5),
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
)
def test_count_clipped_matches_the_definition(values: list[float], clip: float, dtype) -> None:
    config = QuantizationConfig(clip=clip)
    with np.errstate(over="ignore"):
        x = np.array(values, dtype=np.float64).astype(dtype)
    x = x[np.isfinite(x)]
    expected = sum(abs(float(v)) > clip for v in x)
    with np.errstate(all="raise"):
        assert count_clipped(x, config) == expected


@pytest.mark.parametrize("bad", [np.array([np.nan]), np.array([1.0, np.inf])])
def test_count_clipped_refuses_non_finite(bad) -> None:
    with pytest.raises(NonFiniteInputError):
        count_clipped(bad, QuantizationConfig())


def test_count_clipped_refuses_non_vectors() -> None:
    with pytest.raises(InputError):
        count_clipped(np.zeros((2, 2)), QuantizationConfig())


# --- dequantize --------------------------------------------------------------------


@pytest.mark.parametrize(
    "weight", [0, -1, 2.0, 1.5, True, None, "1", np.float64(1.0), float("nan"), 301]
)
def test_dequantize_refuses_bad_weights(weight) -> None:
    config = QuantizationConfig(bits=8, max_clients=3, max_weight=100)  # total weight <= 300
    with pytest.raises(WeightError):
        dequantize(np.zeros(3, dtype=np.uint32), weight, config)


def test_dequantize_takes_numpy_integer_weights() -> None:
    config = QuantizationConfig(bits=8, max_clients=3, max_weight=100)
    total = np.full(2, 255 * 300, dtype=np.uint32)
    assert np.allclose(dequantize(total, np.uint64(300), config), 1.0)


@pytest.mark.parametrize("total", [np.zeros(3), np.zeros((2, 2), dtype=np.uint32), "abc"])
def test_dequantize_refuses_bad_totals(total) -> None:
    with pytest.raises(InputError):
        dequantize(total, 1, QuantizationConfig())


def test_quantize_into_a_given_vector_matches_a_fresh_one() -> None:
    config = QuantizationConfig(clip=1.0, bits=16, max_clients=3)
    x = np.linspace(-1.5, 1.5, 70_001)  # more than two chunks
    seed = b"s" * 16
    fresh = quantize(x, config, lambda n: seed[:n])
    out = np.zeros(x.size, dtype=fresh.dtype)
    assert quantize(x, config, lambda n: seed[:n], out=out) is out
    assert np.array_equal(out, fresh)
    for bad in (np.zeros(x.size, np.uint64), np.zeros(x.size - 1, fresh.dtype),
                np.zeros((2, x.size), fresh.dtype)):
        with pytest.raises(InputError):
            quantize(x, config, out=bad)
