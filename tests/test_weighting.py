"""Weights: only integers in 1..w_max, refused by position and value otherwise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import ConfigurationError, InputError, WeightError
from secagg.quantize import QuantizationConfig
from secagg.weighting import (
    check_weight,
    check_weights,
    decode_weighted,
    encode_weighted,
    split_weighted,
)

NUMPY_INT_TYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]

# Everything that is not an integer: none of it may pass as a weight.
not_integers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1, max_value=1e6).map(math.floor).map(float),  # 2.0, 3.0, ...
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.complex_numbers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.fractions(),
    st.lists(st.integers(1, 5), max_size=3),
    st.sampled_from(
        [
            np.float64(2.0),
            np.float32(1.0),
            np.float16(3.0),
            np.bool_(True),
            np.array(2),
            np.array([1]),
            np.nan,
            np.inf,
            -np.inf,
            "1",
            b"1",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(junk=not_integers)
def test_non_integers_are_refused(junk: object) -> None:
    with pytest.raises(WeightError, match="weight must be an integer"):
        check_weight(junk)
    with pytest.raises(WeightError, match="weight at position 2 must be an integer"):
        check_weights([1, 2, junk, 4])


@settings(max_examples=100, deadline=None)
@given(value=st.integers(max_value=0))
def test_values_below_one_are_refused(value: int) -> None:
    with pytest.raises(WeightError, match=f"got {value}"):
        check_weight(value)
    with pytest.raises(WeightError, match=f"position 1 must be at least 1, got {value}"):
        check_weights([3, value], max_weight=10)


@settings(max_examples=100, deadline=None)
@given(max_weight=st.integers(1, 2**70), excess=st.integers(1, 2**70))
def test_values_above_the_maximum_are_refused(max_weight: int, excess: int) -> None:
    assert check_weight(max_weight, max_weight) == max_weight
    with pytest.raises(WeightError, match=f"{max_weight + excess}, above the maximum weight"):
        check_weight(max_weight + excess, max_weight)


@settings(max_examples=100, deadline=None)
@given(value=st.integers(1, 2**200))
def test_positive_python_ints_pass_unchanged(value: int) -> None:
    assert check_weight(value) == value
    assert check_weights([value, 1]) == [value, 1]


@pytest.mark.parametrize("dtype", NUMPY_INT_TYPES)
def test_numpy_integers_become_python_ints(dtype: type[np.integer]) -> None:
    value = check_weight(dtype(7), max_weight=np.int64(7))
    assert value == 7 and type(value) is int
    weights = check_weights(np.array([1, 2, 3], dtype=dtype))
    assert weights == [1, 2, 3] and all(type(w) is int for w in weights)


@pytest.mark.parametrize("dtype", [np.int8, np.int64])
def test_negative_numpy_integers_are_refused(dtype: type[np.integer]) -> None:
    with pytest.raises(WeightError):
        check_weight(dtype(-1))


def test_messages_name_the_value_and_position() -> None:
    with pytest.raises(WeightError, match=r"position 1 .* float 2\.5"):
        check_weights([1, 2.5])
    with pytest.raises(WeightError, match="bool True"):
        check_weight(True)
    with pytest.raises(WeightError, match="float64"):
        check_weight(np.float64(2.0))
    with pytest.raises(WeightError, match=r"\.\.\.") as info:  # long values are shortened
        check_weight("x" * 10_000)
    assert len(str(info.value)) < 120


def test_weight_error_is_an_input_error() -> None:
    with pytest.raises(InputError):
        check_weight(0)


@pytest.mark.parametrize("weights", ["123", b"12", 5, None, 2.0])
def test_weights_must_be_a_collection(weights: object) -> None:
    with pytest.raises(WeightError, match="weights must be a sequence"):
        check_weights(weights)  # type: ignore[arg-type]


def test_weights_may_be_any_iterable() -> None:
    assert check_weights([]) == []
    assert check_weights(range(1, 4)) == [1, 2, 3]
    assert check_weights(w for w in (5, 6)) == [5, 6]


@pytest.mark.parametrize("bound", [0, -3, 2.0, True, "10", np.float64(3)])
def test_a_bad_maximum_is_a_configuration_error(bound: object) -> None:
    with pytest.raises(ConfigurationError, match="max_weight"):
        check_weight(1, bound)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_weight"):
        check_weights([1], bound)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(junk=not_integers)
def test_encode_weighted_refuses_junk_weights(junk: object) -> None:
    config = QuantizationConfig(max_clients=3, max_weight=10)
    with pytest.raises(WeightError):
        encode_weighted(np.zeros(3, dtype=np.float32), junk, config)  # type: ignore[arg-type]


def test_encode_weighted_takes_numpy_integers(entropy) -> None:  # type: ignore[no-untyped-def]
    config = QuantizationConfig(bits=8, max_clients=3, max_weight=10)
    out = encode_weighted(np.ones(3, dtype=np.float32), np.uint8(10), config, entropy)
    assert int(out[-1]) == 10 and np.all(out[:-1] == 10 * 255)
    with pytest.raises(WeightError, match="above the maximum weight 10"):
        encode_weighted(np.ones(3, dtype=np.float32), np.int64(11), config, entropy)


def test_decode_refuses_a_zero_or_impossible_total_weight() -> None:
    config = QuantizationConfig(bits=8, max_clients=3, max_weight=10)
    with pytest.raises(WeightError, match="at least 1"):
        decode_weighted(np.array([5, 0], dtype=np.uint32), config)
    with pytest.raises(WeightError, match="above the maximum weight 30"):
        decode_weighted(np.array([5, 31], dtype=np.uint32), config)
    assert decode_weighted(np.array([255 * 30, 30], dtype=np.uint32), config).total_weight == 30


@pytest.mark.parametrize(
    "aggregate", [[1, 2], np.array([1.0, 2.0]), np.array([3], dtype=np.uint32), np.zeros((2, 2))]
)
def test_split_refuses_malformed_aggregates(aggregate: object) -> None:
    with pytest.raises(InputError):
        split_weighted(aggregate)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=8), st.integers(0, 2**16 - 1))
def test_decode_refuses_a_sum_no_honest_cohort_makes(weights: list[int], seed: int) -> None:
    q = QuantizationConfig(clip=1.0, bits=8, max_clients=8, max_weight=9)
    rng = np.random.default_rng(seed)
    honest = sum(encode_weighted(rng.uniform(-1, 1, 5), w, q) for w in weights)
    total = sum(weights)
    assert decode_weighted(honest.astype(np.uint64), q).total_weight == total
    top = honest.astype(np.uint64)
    top[:-1] = total * q.levels  # the largest honest sum: every client at +clip
    assert np.allclose(decode_weighted(top, q).mean, 1.0)
    top[2] += 1  # one more than any honest cohort can reach
    with pytest.raises(InputError, match="outside its budget"):
        decode_weighted(top, q)
