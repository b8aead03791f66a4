"""Shamir t-of-n secret sharing over the prime field GF(p), p = 2^256 + 297.

Security property: any t - 1 shares of a secret are jointly independent of it
(information-theoretically); any t shares determine it. The field is just larger than
2^256, so every 32-byte secret (a mask seed, an X25519 private key) is one element.

Sharing is batched: one call shares many secrets to the same holders, and
reconstruction computes the Lagrange coefficients once per set of holders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from secagg.errors import InsufficientSharesError, ShamirError
from secagg.primitives.entropy import Entropy, system_entropy

# The smallest prime above 2^256 (checked by a test with gmpy2.is_prime).
PRIME = (1 << 256) + 297
SECRET_BYTES = 32
ELEMENT_BYTES = 33  # a share value is in [0, PRIME), which needs 257 bits


@dataclass(frozen=True)
class Share:
    """Shares held by one holder: ``x`` is its nonzero field point, ``ys`` one value per secret."""

    x: int
    ys: tuple[int, ...]

    def __repr__(self) -> str:  # share values are secret material
        return f"Share(x={self.x}, count={len(self.ys)})"


def _random_element(entropy: Entropy) -> int:
    # Rejection sampling from 257-bit strings: exactly uniform over GF(p).
    while True:
        value = int.from_bytes(entropy(ELEMENT_BYTES), "big") & ((1 << 257) - 1)
        if value < PRIME:
            return value


def _check_points(xs: Sequence[int]) -> None:
    if len(set(xs)) != len(xs):
        raise ShamirError("share points must be distinct")
    if any(not 0 < x < PRIME for x in xs):
        raise ShamirError("share points must be in 1..p-1")


def split(
    secrets: Sequence[bytes],
    xs: Sequence[int],
    threshold: int,
    entropy: Entropy = system_entropy,
) -> list[Share]:
    """Share each 32-byte secret t-of-n among the holders at points ``xs``.

    Returns one :class:`Share` per holder, in the order of ``xs``. Raises ShamirError if
    a secret is not 32 bytes, points repeat or are zero, or not 1 <= t <= len(xs).
    """
    _check_points(xs)
    if not 1 <= threshold <= len(xs):
        raise ShamirError(f"threshold {threshold} must be in 1..{len(xs)}")
    if any(len(s) != SECRET_BYTES for s in secrets):
        raise ShamirError("every secret must be 32 bytes")
    polys = [
        [int.from_bytes(s, "big")] + [_random_element(entropy) for _ in range(threshold - 1)]
        for s in secrets
    ]
    shares = []
    for x in xs:
        ys = []
        for coeffs in polys:
            acc = 0
            for c in reversed(coeffs):  # Horner
                acc = (acc * x + c) % PRIME
            ys.append(acc)
        shares.append(Share(x=x, ys=tuple(ys)))
    return shares


def lagrange_at_zero(xs: Sequence[int]) -> list[int]:
    """Coefficients l_i with f(0) = sum l_i f(x_i) for any polynomial of degree < len(xs)."""
    _check_points(xs)
    coeffs = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        coeffs.append(num * pow(den, -1, PRIME) % PRIME)
    return coeffs


def reconstruct(shares: Sequence[Share], threshold: int) -> list[bytes]:
    """Recover every secret from at least ``threshold`` shares (the first t are used).

    Raises InsufficientSharesError below t distinct holders, ShamirError if the holders
    disagree on the number of secrets or a result is not a 32-byte value (corrupt shares).
    """
    points: Mapping[int, Share] = {s.x: s for s in shares}
    if len(points) != len(shares):
        raise ShamirError("two shares from the same holder")
    if len(shares) < threshold:
        raise InsufficientSharesError(
            f"{len(shares)} shares, {threshold} needed: the secret stays hidden"
        )
    used = list(shares)[:threshold]
    count = len(used[0].ys)
    if any(len(s.ys) != count for s in used):
        raise ShamirError("holders disagree on the number of shared secrets")
    if any(not 0 <= y < PRIME for s in used for y in s.ys):
        raise ShamirError("share value outside the field")
    lam = lagrange_at_zero([s.x for s in used])
    secrets = []
    for k in range(count):
        value = sum(c * s.ys[k] for c, s in zip(lam, used, strict=True)) % PRIME
        if value >= 1 << (8 * SECRET_BYTES):
            raise ShamirError("reconstructed value is not a 32-byte secret: corrupt shares")
        secrets.append(value.to_bytes(SECRET_BYTES, "big"))
    return secrets
