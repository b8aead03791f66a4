"""Shared fixtures: one 2048-bit key pair per test session (generation is the slow part)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable

import pytest

from secagg.paillier import PrivateKey, generate_keypair


@pytest.fixture(scope="session")
def key() -> PrivateKey:
    return generate_keypair(2048)


@pytest.fixture(scope="session")
def other_key() -> PrivateKey:
    return generate_keypair(2048)


def counter_entropy(seed: bytes = b"test") -> Callable[[int], bytes]:
    """A deterministic entropy source (SHA-256 in counter mode) for reproducible tests."""
    counter = itertools.count()

    def entropy(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return out[:n]

    return entropy
