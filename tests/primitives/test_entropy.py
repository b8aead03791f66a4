"""The entropy sources: the system CSPRNG and the reproducible (insecure) seeded stream."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import ConfigurationError, InsecureEntropyWarning
from secagg.primitives import seeded_entropy as exported
from secagg.primitives.entropy import seeded_entropy, system_entropy

pytestmark = pytest.mark.filterwarnings("ignore::secagg.errors.InsecureEntropyWarning")


def _outputs(seed: int | bytes, lengths: list[int]) -> list[bytes]:
    source = seeded_entropy(seed)
    return [source(n) for n in lengths]


@pytest.mark.parametrize("seed", [0, 1, 2**200, b"", b"experiment-7", np.int64(5)])
def test_same_seed_same_sequence(seed: int | bytes) -> None:
    lengths = [0, 1, 16, 32, 1000, 0, 7]
    first, second = _outputs(seed, lengths), _outputs(seed, lengths)
    assert first == second
    assert [len(b) for b in first] == lengths


def test_calls_continue_the_stream() -> None:
    # The n bytes of each call are the next n bytes: chunking does not change the stream.
    whole = seeded_entropy(42)(100)
    source = seeded_entropy(42)
    assert b"".join(source(n) for n in (0, 10, 1, 39, 50)) == whole
    assert source(16) != whole[:16]  # not restarted


def test_known_construction() -> None:
    # AES-256-CTR, zero counter block, key = SHA-256(domain || b"b" || len(8 bytes) || seed).
    seed = b"abc"
    key = hashlib.sha256(b"secagg/v1/insecure-seed" + b"b" + (3).to_bytes(8, "big") + seed).digest()
    expected = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(48))
    assert seeded_entropy(seed)(48) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [(0, 1), (1, 2**64), (1, b"\x01"), (0, b""), (b"a", b"a\x00"), (256, b"\x01\x00"), (0, 256)],
)
def test_different_seeds_differ(a: int | bytes, b: int | bytes) -> None:
    assert seeded_entropy(a)(64) != seeded_entropy(b)(64)


@settings(max_examples=50, deadline=None)
@given(a=st.integers(min_value=0, max_value=2**300), b=st.integers(min_value=0, max_value=2**300))
def test_distinct_int_seeds_give_distinct_streams(a: int, b: int) -> None:
    assert (seeded_entropy(a)(32) == seeded_entropy(b)(32)) == (a == b)


def test_making_one_warns_at_the_caller() -> None:
    with pytest.warns(InsecureEntropyWarning, match="predictable") as record:
        seeded_entropy(1)
    assert record[0].filename == __file__  # stacklevel=2 points at the caller
    text = str(record[0].message)
    assert "keys" in text and "masks" in text and "shares" in text


def test_the_warning_is_emitted_for_every_source() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seeded_entropy(b"x")
        seeded_entropy(b"x")
    assert sum(issubclass(w.category, InsecureEntropyWarning) for w in caught) == 2


def test_docstring_and_repr_say_insecure() -> None:
    doc = seeded_entropy.__doc__ or ""
    assert "INSECURE" in doc and "reproducible experiments only" in doc and "never a default" in doc
    source = seeded_entropy(b"secret-seed")
    assert "secret-seed" not in repr(source) and "insecure" in repr(source)


def test_exported_from_primitives() -> None:
    assert exported is seeded_entropy


@pytest.mark.parametrize(
    "seed", [-1, -(2**70), True, False, 1.0, "seed", None, bytearray(b"x"), [1]]
)
def test_bad_seeds_are_refused(seed: object) -> None:
    with pytest.raises(ConfigurationError, match="seed"):
        seeded_entropy(seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [-1, 1.5, True, None, "3"])
def test_bad_lengths_are_refused(n: object) -> None:
    source = seeded_entropy(0)
    with pytest.raises(ConfigurationError, match="length"):
        source(n)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="length"):
        system_entropy(n)  # type: ignore[arg-type]


def test_system_entropy_lengths() -> None:
    assert system_entropy(0) == b""
    assert len(system_entropy(33)) == 33
    assert len(system_entropy(np.int32(5))) == 5  # type: ignore[arg-type]
    assert system_entropy(32) != system_entropy(32)
