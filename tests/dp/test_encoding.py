"""The DP encoding pipeline: rotation, round trip without noise within the rounding
bound, clipping, the noise in the sum, modular clipping at the configured rate, and
every secure backend summing DP-encoded vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.dp import DPConfig, Mechanism, decode, encode, rotation_seed
from secagg.dp.rotation import hadamard, padded_dim, rotate, unrotate
from secagg.errors import InputError, NonFiniteInputError
from secagg.result import Backend
from secagg.simulation import simulate_round

from ..conftest import CountingEntropy


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32))
def test_the_rotation_is_orthonormal_and_inverts(dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=dim)
    key = seed.to_bytes(32, "big")
    y = rotate(x, key, padded_dim(dim))
    assert np.linalg.norm(y) == pytest.approx(np.linalg.norm(x), rel=1e-12)
    assert np.allclose(unrotate(y, key, dim), x, atol=1e-12)


def test_hadamard_is_the_hadamard_matrix() -> None:
    from scipy.linalg import hadamard as matrix

    for n in (1, 2, 4, 8, 32, 128):
        x = np.arange(n, dtype=np.float64) + 1
        assert np.allclose(hadamard(x), matrix(n) @ x / math.sqrt(n))
    with pytest.raises(InputError):
        hadamard(np.ones(6))


def _config(noise: float = 0.0, **changes) -> DPConfig:  # noqa: ANN003
    base = {"mechanism": Mechanism.DDG, "noise_multiplier": noise, "l2_clip": 1.0,
            "expected_clients": 8, "bits": 20, "dim": 300}  # fmt: skip
    return DPConfig(**{**base, **changes})


def _updates(n: int, dim: int, norm: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        v = rng.normal(size=dim)
        out.append(v / np.linalg.norm(v) * norm)
    return out


def _sum(config: DPConfig, updates: list[np.ndarray], seed: bytes, entropy) -> np.ndarray:  # noqa: ANN001
    encoded = [encode(u, config, seed, entropy).protected.astype(np.uint64) for u in updates]
    return np.sum(encoded, axis=0)


def test_the_round_trip_without_noise_is_within_the_rounding_bound() -> None:
    config = _config()
    updates = _updates(8, 300, 0.7)
    seed = rotation_seed(3, b"job")
    decoded = decode(_sum(config, updates, seed, CountingEntropy()), config, seed)
    assert decoded.clients == 8
    err = np.linalg.norm(decoded.total - np.sum(updates, axis=0))
    # each client's rounding moves its scaled vector by at most sqrt(d) (one step a
    # coordinate), so the sum's error is at most n sqrt(d) / s in update units
    assert err <= 8 * math.sqrt(config.padded_dim) / config.scale


def test_updates_above_the_clip_are_scaled_to_it() -> None:
    config = _config(l2_clip=0.5)
    big = _updates(1, 300, 2.0)[0]
    encoded = encode(big, config, rotation_seed(0), CountingEntropy())
    assert encoded.clipped and encoded.norm == pytest.approx(2.0)
    decoded = decode(encoded.protected.astype(np.uint64), config, rotation_seed(0))
    assert np.linalg.norm(decoded.total) == pytest.approx(0.5, rel=1e-3)
    assert np.allclose(decoded.total, big * 0.25, atol=1e-3)


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_the_sum_carries_the_configured_noise(mechanism: Mechanism) -> None:
    # z = 1: the summed noise has standard deviation z c per coordinate.
    config = _config(1.0, mechanism=mechanism, dim=4096, bits=16)
    seed = rotation_seed(1)
    zeros = [np.zeros(4096)] * 8
    total = decode(_sum(config, zeros, seed, CountingEntropy(b"noise")), config, seed).total
    assert abs(total.mean()) < 5 / math.sqrt(4096)
    assert total.std() == pytest.approx(1.0, rel=0.05)


def test_modular_clipping_happens_at_the_configured_rate() -> None:
    # Worst case for wrap-around: every client sends the same direction at full norm.
    p = 0.02
    config = _config(1.0, mod_clip_prob=p, dim=1 << 14, bits=12, expected_clients=8)
    seed = rotation_seed(2)
    same = _updates(1, 1 << 14, 1.0, seed=7) * 8
    entropy = CountingEntropy(b"modclip")
    scaled_sum = np.zeros(config.padded_dim)
    for u in same:
        # the integer sum before the mod: reproduce encode's steps without reducing
        enc = encode(u, config, seed, entropy)
        scaled_sum += enc.protected[:-1].astype(np.float64)
    # compare the decoded noisy sum with the unwrapped one: a wrapped coordinate is
    # off by a multiple of 2^b / s
    decoded = decode(_sum(config, same, seed, CountingEntropy(b"modclip")), config, seed)
    rotated_true = rotate(np.sum(same, axis=0), seed, config.padded_dim) * config.scale
    rotated_got = rotate(decoded.total, seed, config.padded_dim) * config.scale
    wrapped = np.abs(rotated_got - rotated_true) > 2 ** (config.bits - 1)
    rate = wrapped.mean()
    assert rate <= 2 * p + 3 * math.sqrt(p / wrapped.size)
    del scaled_sum


def test_bad_updates_are_refused() -> None:
    config = _config()
    with pytest.raises(InputError):
        encode(np.zeros(299), config, rotation_seed(0))
    with pytest.raises(NonFiniteInputError):
        encode(np.full(300, np.nan), config, rotation_seed(0))
    with pytest.raises(InputError):
        decode(np.zeros(10, dtype=np.uint64), config, rotation_seed(0))


@pytest.mark.parametrize("backend", ["secagg", "secagg+", "paillier", "plain"])
def test_every_backend_sums_dp_encoded_vectors(backend: str) -> None:
    config = _config(1.0, expected_clients=6, dim=200, bits=16)
    seed = rotation_seed(5)
    updates = _updates(6, 200, 0.5, seed=3)
    entropy = CountingEntropy(b"backend")
    protected = {i + 1: encode(u, config, seed, entropy).protected for i, u in enumerate(updates)}
    run = simulate_round(
        Backend.parse(backend), protected, config.padded_dim, config.quantization, {}
    )
    plain = np.sum([p.astype(np.uint64) for p in protected.values()], axis=0)
    modulus = np.uint64(1 << config.bits)
    got = decode(run.outcome.aggregate, config, seed)
    want = decode(plain % modulus, config, seed)
    assert got.clients == 6
    assert np.array_equal(got.total, want.total)
