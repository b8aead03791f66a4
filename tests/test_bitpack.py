from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.bitpack import pack, packed_size, unpack
from secagg.errors import DecodeError, InputError
from secagg.primitives.prg import mask_dtype

KAT = json.loads((Path(__file__).resolve().parent / "vectors" / "kat.json").read_text())


def test_known_answer() -> None:
    v = KAT["bitpack"]
    values = np.array(v["values"], dtype=np.uint32)
    assert pack(values, v["bits"]).hex() == v["packed"]
    assert np.array_equal(unpack(bytes.fromhex(v["packed"]), len(values), v["bits"]), values)


def test_bit_order_is_little_endian() -> None:
    # 3-bit elements 1, 2: bits 0..2 = 001, bits 3..5 = 010 -> 0b00010001.
    assert pack(np.array([1, 2], dtype=np.uint32), 3) == bytes([0b00010001])


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 64), data=st.data())
def test_round_trip_at_exactly_k_bits(bits: int, data) -> None:
    n = data.draw(st.integers(0, 300))
    values = data.draw(st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n))
    vector = np.array(values, dtype=mask_dtype(bits))
    packed = pack(vector, bits)
    assert len(packed) == packed_size(n, bits)
    out = unpack(packed, n, bits)
    assert out.dtype == vector.dtype and np.array_equal(out, vector)


def test_large_vectors_round_trip_across_chunks() -> None:
    vector = np.arange(100_003, dtype=np.uint32) * np.uint32(40503) % np.uint32(2**22)
    assert np.array_equal(unpack(pack(vector, 22), vector.size, 22), vector)


def test_values_too_wide_are_refused() -> None:
    with pytest.raises(InputError):
        pack(np.array([8], dtype=np.uint32), 3)


def test_wrong_length_and_padding_are_refused() -> None:
    with pytest.raises(DecodeError):
        unpack(b"\x00\x00", 1, 3)
    with pytest.raises(DecodeError):
        unpack(bytes([0b10000000]), 1, 3)  # bit 7 is padding
