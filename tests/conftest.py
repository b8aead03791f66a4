"""Shared fixtures: a deterministic entropy source and the path of ../shared vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WYCHEPROOF = REPO.parent / "shared" / "vectors" / "wycheproof"


class CountingEntropy:
    """Deterministic bytes from SHA-256 in counter mode: reproducible tests only."""

    def __init__(self, seed: bytes = b"secagg-tests") -> None:
        self._seed, self._counter = seed, 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        return out[:n]


@pytest.fixture
def entropy() -> Callable[[int], bytes]:
    return CountingEntropy()


@pytest.fixture(scope="session")
def wycheproof_dir() -> Path:
    if not WYCHEPROOF.is_dir():
        pytest.fail(f"Wycheproof vectors missing: {WYCHEPROOF} (../shared must sit beside the repo)")
    return WYCHEPROOF


@pytest.fixture(scope="session")
def key():  # noqa: ANN201 - a secagg.paillier.PrivateKey
    """One 2048-bit Paillier key pair per test session (generation is the slow part)."""
    from secagg.paillier import generate_keypair

    return generate_keypair(2048)


@pytest.fixture(scope="session")
def other_key():  # noqa: ANN201
    from secagg.paillier import generate_keypair

    return generate_keypair(2048)
