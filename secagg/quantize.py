"""Quantization of float updates into Z_{2^k}, and back.

A coordinate x is clipped to [-clip, clip], mapped affinely onto [0, 2^b - 1] and
rounded stochastically: up with probability equal to its fractional part, so the
quantized value is an unbiased estimate of the scaled input. The rounding noise comes
from the AES-CTR PRG keyed by fresh ``os.urandom`` bytes (never ``numpy.random``).

The bit budget is checked when a :class:`QuantizationConfig` is made: the modulus 2^k
must exceed n_max * w_max * (2^b - 1), the largest possible sum of weighted values, so
the aggregate never wraps around.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.errors import BitBudgetError, ConfigurationError, InputError, NonFiniteInputError
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.keyagreement import Label
from secagg.primitives.prg import expand, mask_dtype

MAX_QUANT_BITS = 32


def required_modulus_bits(bits: int, max_clients: int, max_weight: int = 1) -> int:
    """Smallest k with n_max * w_max * (2^b - 1) < 2^k."""
    largest_sum = max_clients * max_weight * ((1 << bits) - 1)
    return max(1, largest_sum.bit_length())


@dataclass(frozen=True)
class QuantizationConfig:
    """How floats become integers, and how much room their sum needs.

    Parameters
    ----------
    clip: bound on |x| per coordinate, in the update's own units (> 0, finite).
    bits: b, quantization levels 2^b per coordinate (1..32).
    max_clients: n_max, the most clients whose values may be summed.
    max_weight: w_max, the largest integer weight one client may carry (>= 1).
    modulus_bits: k, the aggregation modulus 2^k; ``None`` picks the smallest that fits.

    Raises ConfigurationError for out-of-range values and BitBudgetError when k is too
    small for the sum of n_max clients at full weight.
    """

    clip: float = 1.0
    bits: int = 16
    max_clients: int = 100
    max_weight: int = 1
    modulus_bits: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise ConfigurationError(f"clip must be a positive finite number, got {self.clip}")
        if not 1 <= self.bits <= MAX_QUANT_BITS:
            raise ConfigurationError(f"quantization bits must be in 1..32, got {self.bits}")
        if self.max_clients < 1 or self.max_weight < 1:
            raise ConfigurationError("max_clients and max_weight must be at least 1")
        needed = required_modulus_bits(self.bits, self.max_clients, self.max_weight)
        if self.modulus_bits is None:
            if needed > 64:
                raise BitBudgetError(f"the sum needs {needed} bits, more than 64")
            object.__setattr__(self, "modulus_bits", needed)
        elif self.modulus_bits < needed or self.modulus_bits > 64:
            raise BitBudgetError(
                f"modulus 2^{self.modulus_bits} cannot hold the sum of {self.max_clients} "
                f"clients at {self.bits} bits and weight {self.max_weight}: needs {needed} bits"
            )

    @property
    def k(self) -> int:
        """The modulus bits k (always set after construction)."""
        if self.modulus_bits is None:  # unreachable: __post_init__ sets it
            raise ConfigurationError("modulus_bits unset")
        return self.modulus_bits

    @property
    def levels(self) -> int:
        """The largest quantized value, 2^b - 1."""
        return (1 << self.bits) - 1


def _check_update(x: npt.ArrayLike) -> npt.NDArray[np.floating]:
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.dtype.kind != "f":
        raise InputError("an update must be a 1-D float vector")
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.isfinite(arr).sum())
        raise NonFiniteInputError(f"update holds {bad} NaN or Inf values")
    return arr


def quantize(
    x: npt.ArrayLike, config: QuantizationConfig, entropy: Entropy = system_entropy
) -> npt.NDArray[np.unsignedinteger]:
    """Clip, scale and stochastically round ``x`` to integers in [0, 2^b - 1].

    Returns a vector of the modulus dtype (uint32 for k <= 32, else uint64).
    Raises InputError for a non-vector and NonFiniteInputError for NaN or Inf.
    """
    arr = _check_update(x)
    scaled = np.empty(arr.size, dtype=np.float64)
    np.clip(arr, -config.clip, config.clip, out=scaled)
    scaled += config.clip
    # Scale to [0, 2^b - 1] and by 2^32 in one pass, add 32-bit uniform noise u, scale
    # back and truncate: floor(v + u / 2^32), rounding up with probability frac(v) to
    # within 2^-32. Scaling by powers of two is exact; the addition rounds by at most
    # 2^(b-21) units of u, so the bias stays below 2^(b-53) levels.
    scaled *= config.levels / (2 * config.clip) * 2.0**32
    scaled += expand(entropy(16), arr.size, 32, Label.ROUNDING.value)
    scaled *= 2.0**-32
    q = scaled.astype(mask_dtype(config.k))  # truncation = floor: all values are >= 0
    np.minimum(q, q.dtype.type(config.levels), out=q)
    return q


def dequantize(
    total: npt.NDArray[np.unsignedinteger], weight: int, config: QuantizationConfig
) -> npt.NDArray[np.float64]:
    """Map a sum of quantized values (total weight ``weight``) to the mean in float units.

    Raises InputError if ``weight`` is not positive.
    """
    if weight <= 0:
        raise InputError("the total weight of an aggregate must be positive")
    mean = total.astype(np.float64) / weight
    mean *= 2 * config.clip / config.levels
    mean -= config.clip
    return mean


def quantization_error_bound(config: QuantizationConfig) -> float:
    """Worst-case |dequantized mean - clipped mean| per coordinate: one step, 2c/(2^b-1)."""
    return 2 * config.clip / config.levels
