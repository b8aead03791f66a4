"""The entropy source every secagg object takes: a callable returning n random bytes.

Constructors default to :func:`system_entropy` (``os.urandom``); tests pass a
deterministic source to make runs reproducible. Never pass ``random`` or
``numpy.random``: keys, seeds, Shamir coefficients and rounding noise all come from here.

:func:`seeded_entropy` is the one deterministic source secagg ships, for reproducible
experiments: it makes every key, mask and share predictable to anyone who knows the
seed, warns with :class:`~secagg.errors.InsecureEntropyWarning` when made, and is never
a default.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Callable

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from secagg.errors import ConfigurationError, InsecureEntropyWarning

#: A source of randomness, n -> n bytes (``os.urandom`` unless a test seeds it).
Entropy = Callable[[int], bytes]

_SEED_DOMAIN = b"secagg/v1/insecure-seed"


def _check_length(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigurationError(f"entropy length must be a non-negative integer, got {n!r}")
    return int(n)


def system_entropy(n: int) -> bytes:
    """Return ``n`` bytes from the operating system's CSPRNG.

    Raises ConfigurationError unless ``n`` is a non-negative integer.
    """
    return os.urandom(_check_length(n))


class _SeededEntropy:
    """AES-256-CTR keystream under a key derived from the seed; see :func:`seeded_entropy`."""

    __slots__ = ("_lock", "_stream")

    def __init__(self, key: bytes) -> None:
        # A zero counter block is safe here: the key is used for this one stream only.
        self._stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
        self._lock = threading.Lock()  # one stream position, even if shared by threads

    def __call__(self, n: int) -> bytes:
        length = _check_length(n)
        with self._lock:
            return self._stream.update(bytes(length))

    def __repr__(self) -> str:  # never print the key
        return "seeded_entropy(<insecure, reproducible>)"


def _encode_seed(seed: int | bytes) -> bytes:
    # Tagged and length-prefixed, so no int seed encodes like a bytes seed or another int.
    if isinstance(seed, bytes):
        return b"b" + len(seed).to_bytes(8, "big") + seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigurationError(
            f"seed must be a non-negative int or bytes, got {type(seed).__name__}"
        )
    value = int(seed)
    if value < 0:
        raise ConfigurationError(f"seed must be a non-negative int or bytes, got {value}")
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return b"i" + len(raw).to_bytes(8, "big") + raw


def seeded_entropy(seed: int | bytes) -> Entropy:
    """A deterministic, INSECURE entropy source, for reproducible experiments only.

    Each call ``source(n)`` returns the next ``n`` bytes of an AES-256-CTR keystream
    keyed by SHA-256(``b"secagg/v1/insecure-seed"`` || encoding of ``seed``): the same
    seed gives the same sequence of outputs, call for call.

    Every key, mask, Shamir share and rounding noise drawn from it is predictable to
    anyone who knows (or guesses) the seed, so a run using it protects no input. It is
    never a default; making one emits :class:`~secagg.errors.InsecureEntropyWarning`.

    Parameters
    ----------
    seed: a non-negative integer (Python or numpy) or a bytes string.

    Raises ConfigurationError for a negative, boolean or non-integer, non-bytes seed.
    """
    key = hashlib.sha256(_SEED_DOMAIN + _encode_seed(seed)).digest()
    warnings.warn(
        "seeded_entropy: all keys, masks and shares become predictable to anyone who "
        "knows the seed; use it for reproducible experiments only",
        InsecureEntropyWarning,
        stacklevel=2,
    )
    return _SeededEntropy(key)
