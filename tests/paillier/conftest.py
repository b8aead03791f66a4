"""Paillier test helpers (the session's key pairs are in tests/conftest.py)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable


def counter_entropy(seed: bytes = b"test") -> Callable[[int], bytes]:
    """A deterministic entropy source (SHA-256 in counter mode) for reproducible tests."""
    counter = itertools.count()

    def entropy(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return out[:n]

    return entropy
