"""Shamir t-of-n secret sharing over the prime field GF(p), p = 2^256 + 297.

Security property: any t - 1 shares of a secret are jointly independent of it
(information-theoretically); any t shares determine it. The field is just larger than
2^256, so every 32-byte secret (a mask seed, an X25519 private key) is one element.

Integrity property: a wrong share never silently changes a recovered secret, within
the limits the redundancy allows. The shares of one secret are a codeword of the
Reed-Solomon code of length m (holders) and dimension t. :func:`recover`

* with a ``verify`` callback (a commitment or a public key), never returns a secret
  that ``verify`` rejects: it corrects up to e = floor((m - t) / 2) wrong shares and
  otherwise raises :class:`~secagg.errors.CorruptSharesError`;
* without ``verify``, checks that all m shares lie on one polynomial of degree < t,
  corrects up to e wrong shares (Berlekamp-Welch via Gao's algorithm) and detects
  e + 1 when m - t is odd. Beyond that, wrong shares chosen by colluding holders can
  be decoded to another polynomial, and m - t + 1 of them can agree on one: only
  ``verify`` protects against that. With exactly t shares and no ``verify``, nothing
  can be detected at all (any t values interpolate some polynomial).

Sharing is batched: one call shares many secrets to the same holders, and
reconstruction does the work that depends only on the holders' points once per call.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from secagg.errors import CorruptSharesError, InsufficientSharesError, ShamirError
from secagg.primitives.entropy import Entropy, system_entropy

# The smallest prime above 2^256 (checked by a test with gmpy2.is_prime).
PRIME = (1 << 256) + 297
SECRET_BYTES = 32
ELEMENT_BYTES = 33  # a share value is in [0, PRIME), which needs 257 bits
_SECRET_BOUND = 1 << (8 * SECRET_BYTES)

Verify = Callable[[int, bytes], bool]
"""``verify(index, candidate)``: whether ``candidate`` is the secret at ``index`` of the batch."""


@dataclass(frozen=True)
class Share:
    """Shares held by one holder: ``x`` is its nonzero field point, ``ys`` one value per secret."""

    x: int
    ys: tuple[int, ...]

    def __repr__(self) -> str:  # share values are secret material
        return f"Share(x={self.x}, count={len(self.ys)})"


@dataclass(frozen=True)
class Recovered:
    """The result of :func:`recover`.

    ``secrets`` holds one 32-byte secret per index of the batch; ``bad`` the points of
    the holders whose shares were found off the decoded polynomial and ignored (for
    any index). ``bad`` is not an audit of every share: on the ``verify`` fast path
    the shares beyond the first t are not looked at.
    """

    secrets: list[bytes]
    bad: frozenset[int]

    def __repr__(self) -> str:  # secrets are secret material
        return f"Recovered(count={len(self.secrets)}, bad={sorted(self.bad)})"


def _random_elements(entropy: Entropy, count: int) -> list[int]:
    """``count`` independent, exactly uniform elements of GF(p): rejection sampling from
    257-bit strings (each accepted with probability p / 2^257, about 1/2), drawn from
    the entropy source in batches rather than one call per candidate."""
    out: list[int] = []
    while len(out) < count:
        need = 2 * (count - len(out)) + 2  # expected candidates, with slack
        block = entropy(ELEMENT_BYTES * need)
        for i in range(need):
            chunk = block[i * ELEMENT_BYTES : (i + 1) * ELEMENT_BYTES]
            value = int.from_bytes(chunk, "big") & ((1 << 257) - 1)
            if value < PRIME and len(out) < count:
                out.append(value)
    return out


def _check_int(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShamirError(f"{what} must be an integer, got {type(value).__name__}")


def _check_ints(what: str, values: Sequence[object]) -> None:
    if not all(type(v) is int for v in values):  # the common case in one pass
        for v in values:
            _check_int(what, v)


def _check_points(xs: Sequence[int]) -> None:
    _check_ints("a share point", xs)
    if len(set(xs)) != len(xs):
        raise ShamirError("share points must be distinct")
    if not all(0 < x < PRIME for x in xs):
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
    _check_int("the threshold", threshold)
    if not 1 <= threshold <= len(xs):
        raise ShamirError(f"threshold {threshold} must be in 1..{len(xs)}")
    if any(not isinstance(s, bytes) or len(s) != SECRET_BYTES for s in secrets):
        raise ShamirError("every secret must be 32 bytes")
    randomness = _random_elements(entropy, len(secrets) * (threshold - 1))
    degree = threshold - 1
    # Coefficients highest degree first, for Horner's rule; the secret is f(0).
    polys = [
        [*randomness[i * degree : (i + 1) * degree][::-1], int.from_bytes(s, "big")]
        for i, s in enumerate(secrets)
    ]
    return [Share(x=x, ys=tuple(_horner(coeffs, x) for coeffs in polys)) for x in xs]


def _horner(coeffs_high_first: Sequence[int], x: int) -> int:
    """f(x) mod p by Horner's rule. Holder points are small integers (client ids), and
    an unreduced step adds only log2(x) bits to the accumulator: it is reduced once
    per ``step`` steps, when it may have grown by about 512 bits, not at every step."""
    step = max(1, 512 // x.bit_length())
    acc = 0
    for start in range(0, len(coeffs_high_first), step):
        for c in coeffs_high_first[start : start + step]:
            acc = acc * x + c
        acc %= PRIME
    return acc


# --- field and polynomial helpers (coefficient lists, lowest degree first) ----------


def _batch_inverse(values: Sequence[int]) -> list[int]:
    """Inverses of nonzero field elements with one modular inversion (Montgomery's trick)."""
    prefix = [1]
    for v in values:
        prefix.append(prefix[-1] * v % PRIME)
    inv = pow(prefix[-1], -1, PRIME)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = inv * prefix[i] % PRIME  # = 1 / values[i]
        inv = inv * values[i] % PRIME  # = 1 / (values[0] * ... * values[i-1])
    return out


def _prod_mod(values: Sequence[int]) -> int:
    """The product mod p, reduced every 8 factors: holder points are usually small ints,
    and a C-level product of 8 of them is much cheaper than 8 reductions."""
    acc = 1
    for i in range(0, len(values), 8):
        acc = acc * math.prod(values[i : i + 8]) % PRIME
    return acc


def _dot(a: Sequence[int], b: Sequence[int]) -> int:
    total: int = sum(map(operator.mul, a, b))  # one reduction for the whole sum
    return total % PRIME


def _trim(a: list[int]) -> list[int]:
    while a and a[-1] == 0:
        a.pop()
    return a  # the zero polynomial is []; otherwise deg = len - 1


def _evaluate(poly: Sequence[int], x: int) -> int:
    acc = 0
    for c in reversed(poly):  # Horner
        acc = (acc * x + c) % PRIME
    return acc


def _mul(a: Sequence[int], b: Sequence[int]) -> list[int]:
    if not a or not b:
        return []
    out = [0] * (len(a) + len(b) - 1)
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            out[i + j] += ai * bj
    return _trim([c % PRIME for c in out])


def _sub(a: Sequence[int], b: Sequence[int]) -> list[int]:
    out = [0] * max(len(a), len(b))
    for i, c in enumerate(a):
        out[i] = c
    for i, c in enumerate(b):
        out[i] = (out[i] - c) % PRIME
    return _trim(out)


def _divmod(a: Sequence[int], b: Sequence[int]) -> tuple[list[int], list[int]]:
    """Quotient and remainder of ``a`` by the nonzero trimmed polynomial ``b``."""
    rem = list(a)
    db = len(b) - 1
    if len(rem) <= db:
        return [], _trim(rem)
    lead_inv = pow(b[-1], -1, PRIME)
    quot = [0] * (len(rem) - db)
    for i in range(len(rem) - 1, db - 1, -1):
        c = rem[i] * lead_inv % PRIME
        quot[i - db] = c
        if c:
            for j, bj in enumerate(b):
                rem[i - db + j] = (rem[i - db + j] - c * bj) % PRIME
    return _trim(quot), _trim(rem[:db])


class _Holders:
    """Precomputation for one ordered set of holder points and threshold t.

    Everything here depends only on the (public) points, never on share values, and is
    computed on first use: the ``verify`` fast path needs only :attr:`lagrange`.
    """

    def __init__(self, xs: Sequence[int], threshold: int) -> None:
        self.xs = list(xs)
        self.t = threshold
        self.e = (len(xs) - threshold) // 2  # correctable wrong shares

    @cached_property
    def lagrange(self) -> list[int]:
        """f(0) = sum l_i f(x_i) over the first t points, for any f of degree < t."""
        return lagrange_at_zero(self.xs[: self.t])

    @cached_property
    def weights(self) -> list[int]:
        """w_i = 1 / prod_{j != i} (x_i - x_j) over all m points: O(m^2), one inversion."""
        xs = self.xs
        return _batch_inverse([_prod_mod([xi - xj for xj in xs if xj != xi]) for xi in xs])

    @cached_property
    def at_zero(self) -> list[int]:
        """c_i with f(0) = sum c_i f(x_i) over all m points, for any f of degree < m.

        c_i = w_i prod_{j != i} (0 - x_j) = w_i (-1)^(m-1) (prod_j x_j) / x_i: O(m).
        """
        scale = _prod_mod(self.xs) * (-1) ** (len(self.xs) - 1)
        inverses = _batch_inverse(self.xs)
        return [w * v * scale % PRIME for w, v in zip(self.weights, inverses, strict=True)]

    @cached_property
    def vanishing(self) -> list[int]:
        """g0 = prod_i (X - x_i), monic of degree m."""
        poly = [1]
        for x in self.xs:  # multiply by (X - x)
            poly = [(lo - x * hi) % PRIME for lo, hi in zip([0, *poly], [*poly, 0], strict=True)]
        return poly

    def consistent(self, ys: Sequence[int]) -> bool:
        """Whether the m values lie on one polynomial of degree < t: O(m (m - t)).

        The syndromes S_j = sum_i w_i x_i^j y_i, j < m - t, of the Reed-Solomon code.
        For f of degree < m - 1, sum_i w_i f(x_i) is the X^(m-1) coefficient of the
        polynomial interpolating f at the m points, which is f itself: 0. So S_j = 0
        for j < m - t when y = f(x) with deg f < t. The m - t rows (w_i x_i^j)_i are a
        scaled Vandermonde matrix, hence independent, so the codewords are exactly the
        y whose m - t syndromes all vanish.
        """
        terms = [w * y % PRIME for w, y in zip(self.weights, ys, strict=True)]
        for j in range(len(self.xs) - self.t):
            if j:  # terms_i = w_i x_i^j y_i
                terms = [v * x % PRIME for v, x in zip(terms, self.xs, strict=True)]
            if sum(terms) % PRIME:
                return False
        return True

    def interpolate(self, ys: Sequence[int]) -> list[int]:
        """The polynomial of degree < m through (x_i, y_i): sum_i y_i w_i g0 / (X - x_i)."""
        g0, m = self.vanishing, len(self.xs)
        acc = [0] * m
        for x, w, y in zip(self.xs, self.weights, ys, strict=True):
            c = w * y % PRIME
            if not c:
                continue
            q = g0[m]  # synthetic division of g0 by (X - x), highest coefficient first
            for d in range(m - 1, -1, -1):
                acc[d] += c * q
                q = (g0[d] + x * q) % PRIME
        return _trim([c % PRIME for c in acc])

    def decode(self, ys: Sequence[int]) -> list[int] | None:
        """Gao's decoder: the f of degree < t off at most e of the values, or None.

        Partial extended Euclid on (g0, g1), g1 the interpolant of the values, stopping
        at the first remainder g = u g0 + v g1 of degree < (m + t) / 2; then f = g / v.
        At each x_i, g(x_i) = v(x_i) y_i, so f(x_i) = y_i wherever v(x_i) != 0, and
        deg v <= (m - t) / 2. The caller re-checks every share against f.
        """
        m, t = len(self.xs), self.t
        r0, r1 = self.vanishing, self.interpolate(ys)
        v0: list[int] = []
        v1 = [1]
        while 2 * (len(r1) - 1) >= m + t:  # deg r1 >= (m + t) / 2; r1 != 0 here
            q, r = _divmod(r0, r1)
            r0, r1 = r1, r
            v0, v1 = v1, _sub(v0, _mul(q, v1))
        f, rem = _divmod(r1, v1)
        if rem or len(f) > t:
            return None
        return f


def lagrange_at_zero(xs: Sequence[int]) -> list[int]:
    """Coefficients l_i with f(0) = sum l_i f(x_i) for any polynomial of degree < len(xs)."""
    _check_points(xs)
    # l_i = prod_{j != i} x_j / (x_j - x_i) = (prod_j x_j) / (x_i prod_{j != i} (x_j - x_i)):
    # one product of all points instead of one per point without x_i.
    total = _prod_mod(xs)
    dens = [xi * _prod_mod([xj - xi for xj in xs if xj != xi]) % PRIME for xi in xs]
    return [total * inv % PRIME for inv in _batch_inverse(dens)]


def _check_shares(shares: Sequence[Share], threshold: int) -> int:
    """Validate the batch (caller mistakes, not corruption); return the number of secrets."""
    _check_int("the threshold", threshold)
    if any(not isinstance(s, Share) for s in shares):
        raise ShamirError("shares must be Share objects")
    if threshold < 1:
        raise ShamirError(f"threshold {threshold} must be at least 1")
    xs = [s.x for s in shares]
    _check_ints("a share point", xs)
    if len(set(xs)) != len(xs):
        raise ShamirError("two shares from the same holder")
    if len(shares) < threshold:
        raise InsufficientSharesError(
            f"{len(shares)} shares, {threshold} needed: the secret stays hidden"
        )
    _check_points(xs)
    count = len(shares[0].ys)
    if any(len(s.ys) != count for s in shares):
        raise ShamirError("holders disagree on the number of shared secrets")
    # One pass over every value (a server recovers thousands of secrets per round);
    # ``type(y) is int`` is _check_int's test for the exact int type.
    if not all(type(y) is int and 0 <= y < PRIME for share in shares for y in share.ys):
        for share in shares:
            for y in share.ys:
                _check_int("a share value", y)
                if not 0 <= y < PRIME:
                    raise ShamirError("share value outside the field")
    return count


def recover(shares: Sequence[Share], threshold: int, *, verify: Verify | None = None) -> Recovered:
    """Recover every secret of the batch from m >= t shares, correcting wrong shares.

    Parameters
    ----------
    shares:
        One :class:`Share` per holder, at distinct points, each with one value per secret.
    threshold:
        t, the number of shares that determine a secret.
    verify:
        Optional ``verify(index, candidate) -> bool``: whether ``candidate`` is the
        secret at ``index`` (checked against a commitment or a public key). A secret
        that ``verify`` rejects is never returned; an exception it raises propagates.

    Returns
    -------
    Recovered
        The secrets, and the points of the shares found wrong and ignored.

    Raises
    ------
    InsufficientSharesError
        Fewer than t distinct holders.
    ShamirError
        Two shares from one holder, a point outside 1..p-1, holders disagreeing on the
        number of secrets, or a value outside the field.
    CorruptSharesError
        Some secret could not be recovered correctly: more than e = floor((m - t) / 2)
        wrong shares, ``verify`` rejecting the value and no redundancy (m == t) or the
        decoded value, or a value that is not a 32-byte secret. ``bad`` holds the wrong
        shares identified for the other secrets of the batch.

    Notes
    -----
    Each secret of the batch is checked and decoded on its own; ``bad`` is the union.

    Cost: with ``verify``, the fast path interpolates from the first t shares (O(t^2)
    multiplications once, O(t) per secret) and calls ``verify`` once per secret; the
    other shares are not looked at unless ``verify`` rejects. Without ``verify`` and
    m > t, the parity check costs O(m^2) once and O(m (m - t)) per secret. Decoding,
    only when a check fails, is O(m^2) per secret.

    Without ``verify``, e wrong shares are corrected and, when m - t is odd, e + 1 are
    detected; more wrong shares, chosen by colluding holders, may decode to a wrong
    secret. With exactly t shares and no ``verify``, a wrong share cannot be detected
    at all (only a value >= 2^256 is refused). Pass ``verify`` whenever a commitment
    to the secret exists.
    """
    count = _check_shares(shares, threshold)
    holders = _Holders([s.x for s in shares], threshold)
    m, t = len(shares), threshold
    secrets: list[bytes] = []
    bad: set[int] = set()
    for k in range(count):
        ys = [s.ys[k] for s in shares]
        if verify is not None or m == t:
            value = _dot(holders.lagrange, ys[:t])
            if verify is None:  # m == t: nothing to check against
                secrets.append(_as_secret(value, k, bad))
                continue
            if value < _SECRET_BOUND and verify(k, value.to_bytes(SECRET_BYTES, "big")):
                secrets.append(value.to_bytes(SECRET_BYTES, "big"))
                continue
            if m == t:
                raise CorruptSharesError(
                    f"secret {k}: verify rejects the value of exactly t = {t} shares, and "
                    "without a redundant share the wrong ones cannot be located",
                    bad=frozenset(bad),
                )
        elif holders.consistent(ys):
            secrets.append(_as_secret(_dot(holders.at_zero, ys), k, bad))
            continue
        secret, wrong = _correct(holders, ys, k, bad)
        if verify is not None and not verify(k, secret):
            raise CorruptSharesError(
                f"secret {k}: verify rejects the decoded value; more than "
                f"{holders.e} of the {m} shares are wrong",
                bad=frozenset(bad),
            )
        secrets.append(secret)
        bad |= wrong
    return Recovered(secrets=secrets, bad=frozenset(bad))


def _as_secret(value: int, k: int, bad: set[int]) -> bytes:
    if value >= _SECRET_BOUND:
        raise CorruptSharesError(
            f"secret {k}: the reconstructed value is not a 32-byte secret: corrupt shares",
            bad=frozenset(bad),
        )
    return value.to_bytes(SECRET_BYTES, "big")


def _correct(holders: _Holders, ys: Sequence[int], k: int, bad: set[int]) -> tuple[bytes, set[int]]:
    """Decode secret ``k``; return it with the points of the shares off the polynomial."""
    f = holders.decode(ys)
    wrong = (
        set()
        if f is None
        else {x for x, y in zip(holders.xs, ys, strict=True) if _evaluate(f, x) != y}
    )
    if f is None or len(wrong) > holders.e:
        raise CorruptSharesError(
            f"secret {k}: more than {holders.e} of the {len(ys)} shares are wrong; "
            "the redundancy cannot tell which",
            bad=frozenset(bad),
        )
    return _as_secret(f[0] if f else 0, k, bad), wrong


def reconstruct(
    shares: Sequence[Share], threshold: int, *, verify: Verify | None = None
) -> list[bytes]:
    """Recover every secret from at least ``threshold`` shares: ``recover(...).secrets``.

    See :func:`recover` for how wrong shares are detected and corrected, and for the
    errors raised. With exactly t shares and no ``verify``, a wrong share silently
    yields a wrong secret (unless the value is >= 2^256): pass ``verify`` or more shares.
    """
    return recover(shares, threshold, verify=verify).secrets
