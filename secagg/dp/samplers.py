"""Integer noise for distributed DP: the discrete Gaussian and the Skellam distribution.

Two samplers of each:

- :func:`discrete_gaussian` and :func:`skellam` draw a whole vector at once by inversion:
  one uniform 64-bit integer per coordinate (from the entropy source, never ``random``
  or ``numpy.random``) is looked up in a table of cumulative probabilities over the
  support ``[-T, T]``. The table is exact up to rounding: probabilities are computed in
  float64 from closed forms (Gaussian: exp(-x^2 / 2 sigma^2) normalized; Skellam:
  e^{-2 mu} I_|x|(2 mu) by a stable Bessel-ratio recurrence), accumulated in extended precision
  and rounded to multiples of 2^-64. :meth:`NoiseTable.tv_bound` states the total
  variation distance to the true distribution that this guarantees: the mass beyond T,
  half the largest relative error of a computed probability (2^-50 for the Gaussian's
  few float64 operations; for Skellam 2^-50 per recurrence step out from the mode,
  generously), and 2^-64 per table entry for the thresholds' rounding.
- :func:`exact_discrete_gaussian` (Canonne, Kamath, Steinke 2020, Algorithm 3, with
  their discrete Laplace and Bernoulli(exp(-gamma)) samplers) is exact, scalar and in
  rational arithmetic: the test oracle for the fast sampler, re-implemented from the
  paper. The Skellam table is checked against its exact probability mass function.

Security property: with an unpredictable entropy source the noise is unpredictable; the
fast samplers are within :meth:`NoiseTable.tv_bound` (per coordinate) of the stated
distribution, which the accounting adds to delta.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from secagg.errors import ConfigurationError
from secagg.primitives.entropy import Entropy
from secagg.primitives.prg import expand

Ints = npt.NDArray[np.int64]

# Tables reach this many standard deviations: the discrete Gaussian's mass beyond is
# below 2 exp(-T^2 / 2 sigma^2) < 2^-150, Skellam's (sub-exponential) below 2^-100.
_TAIL_SIGMAS = 15
_ENTRY_ERROR = 2.0**-50
_MAX_ENTRIES = 1 << 24


_GUIDE_BITS = 20
_NOISE_CONTEXT = b"secagg/v1/dp-noise"


def uniform_words(size: int, entropy: Entropy) -> npt.NDArray[np.uint64]:
    """``size`` uniform 64-bit words: AES-256-CTR keyed by 32 fresh bytes of ``entropy``
    (a CTR-DRBG: as unpredictable as the entropy source, and fast for vectors)."""
    if size == 0:
        return np.zeros(0, dtype=np.uint64)
    words = expand(entropy(32), size, 64, _NOISE_CONTEXT)
    return words.astype(np.uint64, copy=False)


@dataclass(frozen=True, eq=False)
class NoiseTable:
    """Cumulative thresholds of one distribution over ``[-bound, bound]``: a uniform
    64-bit word u maps to -bound + #{thresholds <= u}."""

    name: str
    variance: float
    bound: int
    thresholds: npt.NDArray[np.uint64]  # floor(P[X <= -bound + i] * 2^64), i < 2 bound
    tail: float  # an upper bound on P[|X| > bound]
    relative_error: float  # bound on |computed / true - 1| of any table probability
    # For the top _GUIDE_BITS bits of u: #{thresholds <= bucket start}, and whether the
    # bucket holds a threshold (then the word needs a search, else it is decided).
    guide: npt.NDArray[np.int64]
    ambiguous: npt.NDArray[np.bool_]

    def tv_bound(self) -> float:
        """Total variation distance to the true distribution, per sample."""
        # sum_x |p~(x) - p(x)| / 2 <= max relative error / 2 + the tail + one 2^-64
        # rounding of each threshold
        return self.tail + self.relative_error / 2 + (2 * self.bound + 1) * 2.0**-64

    def sample(self, size: int, entropy: Entropy) -> Ints:
        """``size`` independent draws."""
        u = uniform_words(size, entropy)
        bucket = (u >> np.uint64(64 - _GUIDE_BITS)).astype(np.int64)
        index = self.guide[bucket]
        search = np.flatnonzero(self.ambiguous[bucket])
        if search.size:
            index[search] = np.searchsorted(self.thresholds, u[search], side="right")
        return index - self.bound


def _table(
    name: str,
    variance: float,
    pmf: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float64]],
    tail: float,
    relative_error: float,
) -> NoiseTable:
    bound = max(1, math.ceil(_TAIL_SIGMAS * math.sqrt(variance)))
    if 2 * bound + 1 > _MAX_ENTRIES:
        raise ConfigurationError(
            f"{name} noise of variance {variance:.3g} needs a table of {2 * bound + 1} "
            f"entries (at most {_MAX_ENTRIES}): use fewer bits"
        )
    support = np.arange(-bound, bound + 1, dtype=np.int64)
    p = np.asarray(pmf(support), dtype=np.longdouble)
    cdf = np.cumsum(p)
    cdf /= cdf[-1]  # the table covers the support; the tail is in tv_bound
    scaled = np.floor(cdf[:-1] * np.longdouble(2) ** 64)
    top = np.longdouble(2) ** 64 - 1
    thresholds = np.where(scaled > top, top, scaled).astype(np.uint64)
    starts = np.arange(1 << _GUIDE_BITS, dtype=np.uint64) << np.uint64(64 - _GUIDE_BITS)
    ends = starts | np.uint64((1 << (64 - _GUIDE_BITS)) - 1)
    guide = np.searchsorted(thresholds, starts, side="right").astype(np.int64)
    ambiguous = np.searchsorted(thresholds, ends, side="right") != guide
    return NoiseTable(name, variance, bound, thresholds, tail, relative_error, guide, ambiguous)


def _check_variance(variance: float) -> float:
    if not isinstance(variance, int | float) or not math.isfinite(variance) or variance <= 0:
        raise ConfigurationError(f"noise variance must be a positive number, got {variance!r}")
    return float(variance)


@lru_cache(maxsize=16)
def discrete_gaussian_table(sigma_squared: float) -> NoiseTable:
    """The discrete Gaussian N_Z(0, sigma^2): P[x] proportional to exp(-x^2 / 2 sigma^2).
    (Its variance is slightly below sigma^2 for small sigma; equal to within 1e-10
    relative for sigma >= 3, Canonne, Kamath, Steinke 2020, Cor. 9.)"""
    s2 = _check_variance(sigma_squared)

    def pmf(x: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return np.exp(-(x.astype(np.float64) ** 2) / (2.0 * s2))

    # exp of an exactly computed argument, then one normalization: a few ulps
    return _table("discrete Gaussian", s2, pmf, 2.0**-150, _ENTRY_ERROR)


def _skellam_pmf(variance: float, bound: int) -> npt.NDArray[np.float64]:
    """P[X = x] for x in [-bound, bound], X ~ Skellam(mu, mu), mu = variance / 2:
    e^{-2 mu} I_|x|(2 mu). The Bessel ratios r_v = I_{v+1}(z) / I_v(z) come from the
    backward recurrence r_{v-1} = 1 / (2 v / z + r_v), which is stable (and forgets its
    starting value by a factor below e^{-2 (bound / sigma)^2} by v = 0); the pmf is then
    normalized by p_0 + 2 sum p_x = 1. Works where e^{-z} I_v(z) underflows or
    scipy's ive gives up (z beyond about 1e8)."""
    z = float(variance)  # 2 mu
    ratios = np.empty(bound)
    top = bound + 1
    r = z / (top + math.sqrt(top * top + z * z))  # Amos's bound: close to I_{top+1}/I_top
    for v in range(bound, 0, -1):
        r = 1.0 / (2.0 * v / z + r)
        ratios[v - 1] = r  # I_v / I_{v-1}
    log_p = np.concatenate([[0.0], np.cumsum(np.log(ratios))])  # log(p_x / p_0), x >= 0
    half = np.exp(log_p - log_p.max())
    total = half[0] + 2.0 * half[1:].sum()
    half /= total
    return np.concatenate([half[:0:-1], half])


@lru_cache(maxsize=16)
def skellam_table(variance: float) -> NoiseTable:
    """Skellam(mu, mu) with mu = variance / 2: the difference of two Poisson(mu)."""
    v = _check_variance(variance)
    bound = max(1, math.ceil(_TAIL_SIGMAS * math.sqrt(v)))
    pmf = _skellam_pmf(v, bound) if 2 * bound + 1 <= _MAX_ENTRIES else None

    def lookup(x: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        if pmf is None:  # _table refuses the size before it asks
            raise ConfigurationError("Skellam table too large")
        return pmf[x + bound]

    # each entry accumulates one rounded log ratio per step out from the mode
    return _table("Skellam", v, lookup, 2.0**-100, (bound + 4) * _ENTRY_ERROR)


def discrete_gaussian(sigma_squared: float, size: int, entropy: Entropy) -> Ints:
    """``size`` draws of N_Z(0, sigma^2) (within the table's stated TV distance)."""
    return discrete_gaussian_table(float(sigma_squared)).sample(size, entropy)


def skellam(variance: float, size: int, entropy: Entropy) -> Ints:
    """``size`` draws of the symmetric Skellam with this variance."""
    return skellam_table(float(variance)).sample(size, entropy)


# ------------------------------------------------------------------------------ exact oracles


def _uniform_below(n: int, entropy: Entropy) -> int:
    """A uniform integer in [0, n), by rejection over whole bytes."""
    if n <= 0:
        raise ConfigurationError("the range must be positive")
    nbytes = (n.bit_length() + 7) // 8 + 1
    limit = (256**nbytes // n) * n
    while True:
        value = int.from_bytes(entropy(nbytes), "big")
        if value < limit:
            return value % n


def _bernoulli(p: Fraction, entropy: Entropy) -> bool:
    return _uniform_below(p.denominator, entropy) < p.numerator


def _bernoulli_exp_small(gamma: Fraction, entropy: Entropy) -> bool:
    """Bernoulli(exp(-gamma)) for gamma in [0, 1] (CKS 2020, Algorithm 1)."""
    k = 1
    while _bernoulli(gamma / k, entropy):
        k += 1
    return k % 2 == 1


def _bernoulli_exp(gamma: Fraction, entropy: Entropy) -> bool:
    """Bernoulli(exp(-gamma)) for gamma >= 0 (CKS 2020, Algorithm 1, extended)."""
    while gamma > 1:
        if not _bernoulli_exp_small(Fraction(1), entropy):
            return False
        gamma -= 1
    return _bernoulli_exp_small(gamma, entropy)


def exact_discrete_laplace(t: Fraction, entropy: Entropy) -> int:
    """P[x] proportional to exp(-|x| / t), t > 0 rational (CKS 2020, Algorithm 2)."""
    s, u = t.numerator, t.denominator
    while True:
        uniform = _uniform_below(s, entropy)
        if not _bernoulli_exp(Fraction(uniform, s), entropy):
            continue
        v = 0
        while _bernoulli_exp(Fraction(1), entropy):
            v += 1
        value = (uniform + s * v) // u
        negative = _bernoulli(Fraction(1, 2), entropy)
        if negative and value == 0:
            continue
        return -value if negative else value


def exact_discrete_gaussian(sigma_squared: Fraction, entropy: Entropy) -> int:
    """N_Z(0, sigma^2), sigma^2 > 0 rational (CKS 2020, Algorithm 3)."""
    t = Fraction(math.isqrt(math.floor(sigma_squared)) + 1)
    while True:
        y = exact_discrete_laplace(t, entropy)
        gamma = (abs(y) - sigma_squared / t) ** 2 / (2 * sigma_squared)
        if _bernoulli_exp(gamma, entropy):
            return y
