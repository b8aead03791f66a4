"""The parameters of distributed DP and everything that follows from them.

:class:`DPConfig` takes the parameters as the papers and TFF's DistributedDpSumFactory
define them: the mechanism (distributed discrete Gaussian, DDG, Kairouz, Liu, Steinke
2021; or distributed Skellam, Agarwal, Kairouz, Liu 2021), the noise multiplier z, the
L2 clip c, the expected number of clients n, the bits b of each noised coordinate, the
per-coordinate modular-clipping probability p and the conditional-rounding parameter
beta. From them (TFF's formulas, distributed_dp.py):

- k = sqrt(2) erfcinv(p): the modular range holds k standard deviations of the sum;
- the local noise standard deviation sigma = z c / sqrt(n (1 - dropout)) per client
  (``dropout``: the fraction of clients whose noise may go missing, see docs/dp.md);
- the scale s = sqrt(2^(2b) - n k^2) / (2 k sqrt(c^2 n^2 / d + n sigma^2)), capped at 1e6,
  with d the padded (power-of-two) dimension;
- the rounding-inflated sensitivities in the integer domain, Delta_2 and Delta_1.

The config is refused when made (BitBudgetError) if b bits cannot hold the noisy sum's
tail (k standard deviations) at a scale of at least 1 where rounding at most doubles the
L2 sensitivity, naming the smallest b that can.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from scipy import special

from secagg.errors import BitBudgetError, ConfigurationError
from secagg.quantize import QuantizationConfig
from secagg.validation import require_int, require_real

MAX_SCALE = 1e6  # TFF's MAX_SCALE_FACTOR: beyond it float64 rounding is no longer exact
MAX_BITS = 32
# Rounding onto the grid may inflate the L2 sensitivity by at most this factor: beyond
# it the discretization, not the noise, decides the privacy (and the accuracy).
MAX_INFLATION = 2.0


class Mechanism(str, enum.Enum):
    """The integer noise each client adds."""

    DDG = "ddg"  # distributed discrete Gaussian
    SKELLAM = "skellam"  # distributed Skellam (difference of two Poissons)


def k_stddevs(mod_clip_prob: float) -> float:
    """Standard deviations the modular range covers so that a Gaussian coordinate falls
    outside with probability ``mod_clip_prob`` (two-sided): sqrt(2) erfcinv(p)."""
    return math.sqrt(2.0) * float(special.erfcinv(mod_clip_prob))


def inflated_l2_norm_bound(clip: float, gamma: float, beta: float, dim: int) -> float:
    """How far stochastic rounding onto the grid gamma Z^d can push a vector of L2 norm
    ``clip``: clip + gamma sqrt(d) always; with conditional rounding (beta > 0) also
    sqrt(clip^2 + gamma^2 d / 4 + sqrt(2 ln(1/beta)) gamma (clip + gamma sqrt(d) / 2))
    (Kairouz, Liu, Steinke 2021, Sec. 4.1; TFF's inflated_l2_norm_bound)."""
    bound = clip + gamma * math.sqrt(dim)
    if beta > 0:
        conditional = math.sqrt(
            clip**2
            + gamma**2 * dim / 4.0
            + math.sqrt(2.0 * math.log(1.0 / beta)) * gamma * (clip + gamma * math.sqrt(dim) / 2)
        )
        bound = min(bound, conditional)
    return bound


def _scale(bits: int, clients: int, k: float, clip: float, padded: int, sigma: float) -> float:
    room = 2.0 ** (2 * bits) - clients * k * k
    if room <= 0:
        return 0.0
    spread = math.sqrt(clip**2 * clients**2 / padded + clients * sigma**2)
    return min(MAX_SCALE, math.sqrt(room) / (2.0 * k * spread))


@dataclass(frozen=True)
class DPConfig:
    """Distributed DP for one FL job (all rounds).

    Parameters
    ----------
    mechanism: DDG or SKELLAM.
    noise_multiplier: z >= 0: the summed noise has standard deviation z * l2_clip.
    l2_clip: c > 0, the L2 norm each client's update is clipped to (update units).
    expected_clients: n, clients whose noise shares make up the full noise.
    bits: b, bits of each noised coordinate (1..32); the backends sum them without
        wrap-around, then the server reduces mod 2^b.
    dim: d, coordinates of an update (before padding to a power of two).
    mod_clip_prob: p in (0, 1), per-coordinate probability that the sum wraps mod 2^b.
    beta: conditional rounding's parameter in [0, 1); 0 rounds unconditionally.
    dropout: fraction in [0, 1) of clients whose noise may be missing: each client adds
        1 / (1 - dropout) times the variance, so the accounted noise survives it.

    Raises ConfigurationError for impossible values and BitBudgetError when the bits
    cannot hold the noisy sum at a scale of at least 1.
    """

    mechanism: Mechanism
    noise_multiplier: float
    l2_clip: float
    expected_clients: int
    bits: int
    dim: int
    mod_clip_prob: float = 1e-4
    beta: float = 0.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mechanism", Mechanism(self.mechanism))
        except ValueError:
            raise ConfigurationError(f"unknown DP mechanism {self.mechanism!r}") from None
        z = require_real("noise_multiplier", self.noise_multiplier)
        c = require_real("l2_clip", self.l2_clip)
        if not (math.isfinite(z) and z >= 0):
            raise ConfigurationError(f"noise_multiplier must be finite and >= 0, got {z}")
        if not (math.isfinite(c) and c > 0):
            raise ConfigurationError(f"l2_clip must be finite and > 0, got {c}")
        require_int("expected_clients", self.expected_clients, 1, 2**32 - 2)
        require_int("bits", self.bits, 1, MAX_BITS)
        require_int("dim", self.dim, 1, 2**31)
        p = require_real("mod_clip_prob", self.mod_clip_prob)
        if not 0.0 < p < 1.0:
            raise ConfigurationError(f"mod_clip_prob must be in (0, 1), got {p}")
        if not 0.0 <= require_real("beta", self.beta) < 1.0:
            raise ConfigurationError(f"beta must be in [0, 1), got {self.beta}")
        if not 0.0 <= require_real("dropout", self.dropout) < 1.0:
            raise ConfigurationError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("noise_multiplier", "l2_clip", "mod_clip_prob", "beta", "dropout"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if not self._fits(self.bits):
            raise BitBudgetError(
                f"{self.bits} bits cannot hold the noisy sum of {self.expected_clients} "
                f"clients ({self.mechanism.value}, z = {self.noise_multiplier}, "
                f"c = {self.l2_clip}, d = {self.dim}) at a resolution where rounding at "
                f"most doubles the sensitivity (scale {self.scale:.3g}): use at least "
                f"{self.smallest_bits()} bits"
            )

    # -- what follows from the parameters ---------------------------------------------

    @property
    def padded_dim(self) -> int:
        """d rounded up to a power of two (the Hadamard rotation's size)."""
        return 1 << (self.dim - 1).bit_length()

    @property
    def k(self) -> float:
        return k_stddevs(self.mod_clip_prob)

    @property
    def local_stddev(self) -> float:
        """Each client's noise standard deviation, in update units."""
        share = self.expected_clients * (1.0 - self.dropout)
        return self.noise_multiplier * self.l2_clip / math.sqrt(share)

    @property
    def scale(self) -> float:
        """The scale s (one integer step is 1 / s update units)."""
        return _scale(
            self.bits,
            self.expected_clients,
            self.k,
            self.l2_clip,
            self.padded_dim,
            self.local_stddev,
        )

    @property
    def noise_variance(self) -> float:
        """Each client's noise variance in the integer domain, (sigma s)^2."""
        return (self.local_stddev * self.scale) ** 2

    @property
    def l2_sensitivity(self) -> float:
        """Delta_2 of one client's contribution in the integer domain, inflated by the
        rounding (Kairouz, Liu, Steinke 2021, Sec. 4.1; TFF's inflated_l2_norm_bound)."""
        return self.inflated_l2_bound() * self.scale

    @property
    def l1_sensitivity(self) -> float:
        """Delta_1 <= Delta_2 * min(sqrt(d), Delta_2) for an integer vector."""
        l2 = self.l2_sensitivity
        return math.ceil(l2 * min(math.sqrt(self.padded_dim), l2))

    def inflated_l2_bound(self) -> float:
        """The L2 norm a rounded, clipped update may reach, in update units."""
        return inflated_l2_norm_bound(self.l2_clip, 1.0 / self.scale, self.beta, self.padded_dim)

    @property
    def quantization(self) -> QuantizationConfig:
        """The budget the secure backends sum under, for b-bit values, weight 1 each, at
        most ``expected_clients`` of them (their modulus adds log2 n bits, so the sum
        never wraps and the server reduces it mod 2^b itself)."""
        return QuantizationConfig(
            clip=self.l2_clip, bits=self.bits, max_clients=self.expected_clients, max_weight=1
        )

    def _fits(self, bits: int) -> bool:
        """Whether ``bits`` hold the noisy sum (k standard deviations of it) at a scale
        s >= 1 where rounding inflates the L2 sensitivity at most MAX_INFLATION-fold."""
        scale = _scale(
            bits, self.expected_clients, self.k, self.l2_clip, self.padded_dim, self.local_stddev
        )
        if scale < 1.0:
            return False
        inflated = inflated_l2_norm_bound(self.l2_clip, 1.0 / scale, self.beta, self.padded_dim)
        return inflated <= MAX_INFLATION * self.l2_clip

    def smallest_bits(self) -> int:
        """The fewest bits at which this configuration fits (MAX_BITS + 1 if none)."""
        for bits in range(1, MAX_BITS + 1):
            if self._fits(bits):
                return bits
        return MAX_BITS + 1
