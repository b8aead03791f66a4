from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.columnpack import (
    PackedSum,
    check,
    pack,
    pack_in_place,
    packed_size,
    unpack,
    workspace,
)
from secagg.errors import DecodeError, InputError
from secagg.primitives.prg import mask_dtype

KAT = json.loads((Path(__file__).resolve().parent / "vectors" / "kat.json").read_text())


def reference_pack(values: list[int], bits: int) -> bytes:
    """The format as the module docstring states it, with Python integers."""
    width = 32 if bits <= 32 else 64
    m = -(-len(values) // width)
    padded = values + [0] * (width * m - len(values))
    words = [[0] * m for _ in range(bits)]
    for r in range(m):
        column = sum(padded[j * m + r] << (j * bits) for j in range(width))
        for w in range(bits):
            words[w][r] = (column >> (w * width)) & ((1 << width) - 1)
    return b"".join(x.to_bytes(width // 8, "little") for row in words for x in row)


def test_known_answer() -> None:
    v = KAT["columnpack"]
    values = np.array(v["values"], dtype=np.uint32)
    assert pack(values, v["bits"]).hex() == v["packed"]
    assert reference_pack(v["values"], v["bits"]).hex() == v["packed"]
    assert np.array_equal(unpack(bytes.fromhex(v["packed"]), len(values), v["bits"]), values)


def test_small_example_by_hand() -> None:
    # 32 elements of 1 bit, m = 1: element j is bit j of the single 32-bit word.
    values = np.zeros(32, dtype=np.uint32)
    values[[0, 9]] = 1
    assert pack(values, 1) == (1 | 1 << 9).to_bytes(4, "little")


@settings(max_examples=80, deadline=None)
@given(bits=st.integers(1, 64), data=st.data())
def test_matches_the_reference_and_round_trips(bits: int, data) -> None:
    n = data.draw(st.integers(0, 200))
    values = data.draw(st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n))
    vector = np.array(values, dtype=mask_dtype(bits))
    packed = pack(vector, bits)
    assert packed == reference_pack(values, bits)
    assert len(packed) == packed_size(n, bits)
    out = unpack(packed, n, bits)
    assert out.dtype == vector.dtype and np.array_equal(out, vector)


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 64), data=st.data())
def test_packed_sum_is_the_sum_mod_2k(bits: int, data) -> None:
    n = data.draw(st.integers(0, 150))
    count = data.draw(st.integers(0, 5))
    vectors = [
        data.draw(st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n))
        for _ in range(count)
    ]
    dtype = mask_dtype(bits)
    total = PackedSum(n, bits)
    for v in vectors:
        total.add(pack(np.array(v, dtype=dtype), bits))
    columns = list(zip(*vectors, strict=True)) if count else [()] * n
    assert [int(x) for x in total.vector()] == [sum(col) % 2**bits for col in columns]


def test_packed_sum_reads_and_adds_in_any_order() -> None:
    n, bits = 1000, 22
    rng = np.random.default_rng(3)
    a, b = (rng.integers(0, 2**bits, n, dtype=np.uint32) for _ in range(2))
    total = PackedSum(n, bits)
    total.add(pack(a, bits))
    assert np.array_equal(total.vector(), a)
    assert np.array_equal(total.vector(), a)  # reducing in place changes nothing mod 2^k
    total.add(pack(b, bits))
    assert np.array_equal(total.vector(), (a + b) & np.uint32(2**bits - 1))
    with pytest.raises(DecodeError):
        total.add(bytes(pack(a, bits))[:-4])


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(1, 64), data=st.data())
def test_pack_in_place_matches_the_reference(bits: int, data) -> None:
    values = data.draw(st.lists(st.integers(0, 2**bits - 1), max_size=200))
    buffer = workspace(len(values), bits)
    buffer[: len(values)] = values
    assert bytes(pack_in_place(buffer, bits)) == reference_pack(values, bits)


def test_size_is_k_over_8_plus_under_one_word_column() -> None:
    n, bits = 1_000_000, 22
    assert n * bits / 8 <= packed_size(n, bits) < n * bits / 8 + 32 * bits / 8


def test_values_too_wide_or_wrong_dtype_are_refused() -> None:
    with pytest.raises(InputError):
        pack(np.array([8], dtype=np.uint32), 3)
    with pytest.raises(InputError):
        pack(np.array([1], dtype=np.uint64), 3)
    with pytest.raises(InputError):
        pack_in_place(np.zeros(32, dtype=np.uint64), 3)
    with pytest.raises(InputError):
        pack_in_place(np.zeros(31, dtype=np.uint32), 3)
    with pytest.raises(DecodeError):
        PackedSum(3, 3).add(b"\x00")


@pytest.mark.parametrize("n", [1, 31, 33, 100, 1000])
def test_wrong_length_and_every_padding_element_are_refused(n: int) -> None:
    bits = 5
    good = pack(np.ones(n, dtype=np.uint32), bits)
    check(good, n, bits)
    for bad in (good[:-1], bytes(good) + b"\x00"):
        with pytest.raises(DecodeError):
            unpack(bad, n, bits)
    padded = -(-n // 32) * 32
    for position in range(n, padded):
        vector = np.ones(padded, dtype=np.uint32)
        vector[n:] = 0
        vector[position] = 1
        forged = pack(vector, bits)
        assert len(forged) == len(good)
        with pytest.raises(DecodeError, match="padding"):
            check(forged, n, bits)
