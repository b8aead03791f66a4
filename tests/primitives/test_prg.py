from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import ConfigurationError, CryptoError
from secagg.primitives.prg import CHUNK_ELEMENTS, Keystream, accumulate, expand

KAT = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "kat.json").read_text())


def test_known_answer() -> None:
    v = KAT["prg"]
    out = expand(bytes.fromhex(v["seed"]), v["n"], v["bits"], bytes.fromhex(v["context"]))
    assert [int(x) for x in out] == v["values"]


def test_first_block_is_aes_of_the_counter_block() -> None:
    # Independent of the implementation: CTR keystream block 0 = AES_k(counter block).
    seed, context = bytes(range(16)), b"ctx"
    counter = hashlib.sha256(b"secagg/v1/prg-counter" + context).digest()[:16]
    block = Cipher(algorithms.AES(seed), modes.ECB()).encryptor().update(counter)
    expected = np.frombuffer(block, dtype="<u4")
    assert np.array_equal(expand(seed, 4, 32, context), expected)


@pytest.mark.parametrize("bits", [1, 7, 22, 32, 33, 64])
def test_values_lie_in_the_ring_and_use_every_bit(bits: int) -> None:
    out = expand(b"\x01" * 32, 4096, bits, b"ctx")
    assert out.dtype == (np.uint32 if bits <= 32 else np.uint64)
    assert int(out.max()) < 2**bits
    top = np.uint64(1) << np.uint64(bits - 1)
    assert 0.4 < float(np.mean((out.astype(np.uint64) & top) > 0)) < 0.6


def test_contexts_and_seeds_give_independent_streams() -> None:
    a = expand(b"\x01" * 16, 64, 32, b"a")
    assert not np.array_equal(a, expand(b"\x01" * 16, 64, 32, b"b"))
    assert not np.array_equal(a, expand(b"\x02" * 16, 64, 32, b"a"))


def test_bad_seed_is_refused() -> None:
    with pytest.raises(CryptoError):
        expand(b"\x01" * 20, 4, 32, b"")


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(0, 3 * CHUNK_ELEMENTS + 5),
    bits=st.sampled_from([5, 22, 32, 40, 64]),
    signs=st.lists(st.sampled_from([1, -1]), min_size=1, max_size=4),
)
def test_chunked_accumulate_equals_expanding_each_term(n: int, bits: int, signs: list[int]) -> None:
    dtype = np.uint32 if bits <= 32 else np.uint64
    acc = np.arange(n, dtype=dtype)
    expected = acc.copy()
    terms = [(bytes([i + 1]) * 16, b"ctx%d" % i, s) for i, s in enumerate(signs)]
    for seed, ctx, sign in terms:
        word_bits = 32 if bits <= 32 else 64
        stream = expand(seed, n, word_bits, ctx)
        expected = expected + stream if sign > 0 else expected - stream
    accumulate(acc, terms)
    assert np.array_equal(acc, expected)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(0, 2 * CHUNK_ELEMENTS + 5),
    bits=st.sampled_from([5, 22, 32, 40, 64]),
    signs=st.lists(st.sampled_from([1, -1]), min_size=0, max_size=3),
)
def test_accumulate_from_a_source_reduces_mod_2k(n: int, bits: int, signs: list[int]) -> None:
    dtype = np.uint32 if bits <= 32 else np.uint64
    source = np.arange(n, dtype=dtype) * dtype(2654435761)
    before = source.copy()
    terms = [(bytes([i + 7]) * 16, b"src%d" % i, s) for i, s in enumerate(signs)]
    expected = [int(x) for x in source]
    for seed, ctx, sign in terms:
        stream = expand(seed, n, 32 if bits <= 32 else 64, ctx)
        expected = [e + sign * int(v) for e, v in zip(expected, stream, strict=True)]
    acc = np.full(n, 12345, dtype=dtype)  # overwritten, never read
    accumulate(acc, terms, source=source, bits=bits)
    assert [int(x) for x in acc] == [e % 2**bits for e in expected]
    assert np.array_equal(source, before)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, CHUNK_ELEMENTS), min_size=1, max_size=5),
       st.sampled_from([np.uint32, np.uint64]))
def test_keystream_pieces_concatenate_to_expand(pieces: list[int], dtype: type) -> None:
    seed, context = b"k" * 16, b"ctx"
    stream = Keystream(seed, context, dtype)
    got = np.concatenate([stream.next_words(n).copy() for n in pieces])
    bits = 32 if dtype is np.uint32 else 64
    assert np.array_equal(got, expand(seed, sum(pieces), bits, context))
    with pytest.raises(ConfigurationError):
        stream.next_words(CHUNK_ELEMENTS + 1)
