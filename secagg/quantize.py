"""Quantization of float updates into Z_{2^k}, and back.

A coordinate x is clipped to [-clip, clip], mapped affinely onto [0, 2^b - 1] and
rounded stochastically: up with probability equal to its fractional part, so the
quantized value is an unbiased estimate of the scaled input. The rounding noise comes
from the AES-CTR PRG keyed by 16 bytes of the caller's entropy source (``os.urandom``
by default; never ``numpy.random``).

Everything is checked when a :class:`QuantizationConfig` is made: field types, a clip
whose scale and step are finite normal floats, and the bit budget: the modulus 2^k must
exceed n_max * w_max * (2^b - 1), the largest possible sum of weighted values, so the
aggregate never wraps around. :func:`count_clipped` tells a caller how many coordinates
the clip will change.
"""

from __future__ import annotations

import math
import struct
import sys
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.errors import (
    BitBudgetError,
    ConfigurationError,
    DecodeError,
    InputError,
    NonFiniteInputError,
)
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.keyagreement import Label
from secagg.primitives.prg import CHUNK_ELEMENTS, Keystream, mask_dtype
from secagg.validation import require_int, short

MAX_QUANT_BITS = 32
#: The clip of every layer when none is given (run_round, the aggregators, both CLIs).
DEFAULT_CLIP = 1.0
MAX_CLIENTS = (1 << 32) - 2  # n_max must fit the wire format's 32-bit client ids
MAX_MODULUS_BITS = 64


def _clip_value(value: object) -> float:
    """``value`` as a positive finite Python float; ints and floats only, not bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigurationError(
            f"clip must be a number, got {type(value).__name__} {short(value)}"
        )
    try:
        clip = float(value)
    except OverflowError:  # an int beyond the float range
        raise ConfigurationError("clip is too large to be a float") from None
    if not (math.isfinite(clip) and clip > 0):
        raise ConfigurationError(f"clip must be a positive finite number, got {clip}")
    return clip


def _scale(clip: float, levels: int) -> float:
    """The factor quantize applies to x + clip: levels / (2 clip), times 2^32."""
    return levels / (2 * clip) * 2.0**32


def required_modulus_bits(bits: int, max_clients: int, max_weight: int = 1) -> int:
    """Smallest k with n_max * w_max * (2^b - 1) < 2^k.

    Raises ConfigurationError unless bits is in 1..32 and the others are integers >= 1.
    """
    bits = require_int("quantization bits", bits, 1, MAX_QUANT_BITS)
    max_clients = require_int("max_clients", max_clients, 1)
    max_weight = require_int("max_weight", max_weight, 1)
    largest_sum = max_clients * max_weight * ((1 << bits) - 1)
    return max(1, largest_sum.bit_length())


@dataclass(frozen=True)
class QuantizationConfig:
    """How floats become integers, and how much room their sum needs.

    Parameters
    ----------
    clip: bound on abs(x) per coordinate, in the update's own units (an int or float > 0,
        stored as a float). 2 * clip, the step 2 * clip / (2^b - 1) and the scale
        (2^b - 1) / (2 * clip) * 2^32 must all be finite normal floats, which refuses
        degenerate clips such as 1e-310 or 1e308.
    bits: b, quantization levels 2^b per coordinate (1..32).
    max_clients: n_max, the most clients whose values may be summed (1..2^32 - 2).
    max_weight: w_max, the largest integer weight one client may carry (>= 1).
    modulus_bits: k, the aggregation modulus 2^k; ``None`` picks the smallest that fits.

    Integer fields accept Python and numpy integers (stored as Python ints); bool, float,
    str and None (except for ``modulus_bits``) are refused.

    Raises ConfigurationError for wrong types and out-of-range values, and BitBudgetError
    when k is too small (or would exceed 64) for the sum of n_max clients at full weight.
    """

    clip: float = DEFAULT_CLIP
    bits: int = 16
    max_clients: int = 100
    max_weight: int = 1
    modulus_bits: int | None = None

    def __post_init__(self) -> None:
        # Check every field first, then normalise them all (numpy scalars become Python
        # numbers, so no later arithmetic can wrap around in a fixed-width dtype).
        clip = _clip_value(self.clip)
        bits = require_int("quantization bits", self.bits, 1, MAX_QUANT_BITS)
        max_clients = require_int("max_clients", self.max_clients, 1)
        max_weight = require_int("max_weight", self.max_weight, 1)
        given_k = (
            None if self.modulus_bits is None else require_int("modulus_bits", self.modulus_bits)
        )
        levels = (1 << bits) - 1
        step = 2 * clip / levels
        if not (math.isfinite(2 * clip) and math.isfinite(_scale(clip, levels))):
            raise ConfigurationError(f"clip {clip} is too extreme to quantize at {bits} bits")
        if not step >= sys.float_info.min:
            raise ConfigurationError(
                f"clip {clip} gives a quantization step below the smallest normal float"
            )
        needed = required_modulus_bits(bits, max_clients, max_weight)
        if given_k is None and needed > MAX_MODULUS_BITS:
            raise BitBudgetError(f"the sum needs {needed} bits, more than 64")
        if given_k is not None and not needed <= given_k <= MAX_MODULUS_BITS:
            raise BitBudgetError(
                f"modulus 2^{given_k} cannot hold the sum of {max_clients} "
                f"clients at {bits} bits and weight {max_weight}: needs {needed} bits"
            )
        # The wire-format bound on n_max after the budget: a configuration that breaks
        # both is refused, as before this bound existed, with BitBudgetError.
        require_int("max_clients", max_clients, 1, MAX_CLIENTS)
        modulus_bits = needed if given_k is None else given_k
        object.__setattr__(self, "clip", clip)
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "max_clients", max_clients)
        object.__setattr__(self, "max_weight", max_weight)
        object.__setattr__(self, "modulus_bits", modulus_bits)

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

    @property
    def max_input(self) -> int:
        """The largest element of a client's protected vector, w_max (2^b - 1)."""
        return self.max_weight * self.levels

    def encode(self) -> bytes:
        """Canonical bytes of every field, for the digests that bind a round to it:
        clip (IEEE 754 double) | b u8 | n_max u32 | w_max u64 | k u8."""
        return _FIELDS.pack(self.clip, self.bits, self.max_clients, self.max_weight, self.k)

    @classmethod
    def decode(cls, data: bytes) -> QuantizationConfig:
        """The config :meth:`encode` wrote, checked like any other (the modulus bits
        included). Raises DecodeError for the wrong length, ConfigurationError /
        BitBudgetError for values no config may hold."""
        if not isinstance(data, bytes) or len(data) != _FIELDS.size:
            raise DecodeError(f"a quantization config is {_FIELDS.size} bytes")
        clip, bits, max_clients, max_weight, k = _FIELDS.unpack(data)
        return cls(clip, bits, max_clients, max_weight, k)

    def check_cohort(self, clients: int) -> None:
        """Raise BitBudgetError if ``clients`` inputs could overflow the modulus."""
        if clients > self.max_clients:
            raise BitBudgetError(
                f"{clients} clients exceed the quantization budget's max_clients "
                f"{self.max_clients}: their sum could wrap around mod 2^k"
            )


_FIELDS = struct.Struct(">dBIQB")


def float_vector(x: npt.ArrayLike) -> npt.NDArray[np.floating]:
    """``x`` as a 1-D float array (its values unchecked); raises InputError for
    anything else."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):  # ragged nesting and the like
        raise InputError("an update must be a 1-D float vector") from None
    if arr.ndim != 1 or arr.dtype.kind != "f":
        raise InputError("an update must be a 1-D float vector")
    return arr


def check_update(x: npt.ArrayLike) -> npt.NDArray[np.floating]:
    """``x`` as a 1-D float array; raises InputError for anything else and
    NonFiniteInputError for NaN or Inf."""
    arr = float_vector(x)
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.isfinite(arr).sum())
        raise NonFiniteInputError(f"update holds {bad} NaN or Inf values")
    return arr


def quantize(
    x: npt.ArrayLike,
    config: QuantizationConfig,
    entropy: Entropy = system_entropy,
    *,
    out: npt.NDArray[np.unsignedinteger] | None = None,
) -> npt.NDArray[np.unsignedinteger]:
    """Clip, scale and stochastically round ``x`` to integers in [0, 2^b - 1].

    Returns a vector of the modulus dtype (uint32 for k <= 32, else uint64); with
    ``out`` (a 1-D vector of that dtype and x's length) writes it there and returns it.
    Raises InputError for a non-vector or a wrong ``out`` and NonFiniteInputError for
    NaN or Inf.
    """
    arr = check_update(x)
    dtype = mask_dtype(config.k)
    if out is None:
        out = np.empty(arr.size, dtype=dtype)
    elif out.ndim != 1 or out.size != arr.size or out.dtype != np.dtype(dtype):
        raise InputError(f"out must be {arr.size} values of {np.dtype(dtype)}")
    levels = float(config.levels)
    clip = config.clip
    scale = _scale(clip, config.levels)
    noise = Keystream(entropy(16), Label.ROUNDING.value, np.uint32)
    # Chunk by chunk, so that the float64 scratch and the keystream stay in cache
    # across the passes below (each pass over the whole vector would go to memory).
    scratch = np.empty(min(arr.size, CHUNK_ELEMENTS), dtype=np.float64)
    for start in range(0, arr.size, CHUNK_ELEMENTS):
        part = arr[start : start + CHUNK_ELEMENTS]
        v = scratch[: part.size]
        # Clip in float64 whatever the input dtype (float16/32 would round the bounds),
        # so -clip <= x <= clip exactly and x + clip >= 0: rounding is monotone and
        # -clip + clip is exactly 0. Every later step keeps the values >= 0, so no lower
        # clamp is needed.
        np.clip(part, -clip, clip, out=v, dtype=np.float64)
        v += clip
        # Scale to [0, 2^b - 1] and by 2^32 in one pass, add 32-bit uniform noise u,
        # scale back and truncate: floor(v + u / 2^32), rounding up with probability
        # frac(v) to within 2^-32. Scaling by powers of two is exact; the addition
        # rounds by at most 2^(b-21) units of u, so the bias stays below 2^(b-53) levels.
        v *= scale
        v += noise.next_words(part.size)
        v *= 2.0**-32
        # At +clip, v = 2^b - 1 plus rounding error plus u / 2^32 can reach 2^b (at
        # b = 32, v * 2^32 + u rounds to 2^64): clamp in float, where 2^b - 1 is exact,
        # *before* the cast, which would wrap 2^32 to 0 in uint32.
        np.minimum(v, levels, out=v)
        # truncation = floor: 0 <= values <= 2^b - 1
        np.copyto(out[start : start + part.size], v, casting="unsafe")
    return out


def count_clipped(x: npt.ArrayLike, config: QuantizationConfig) -> int:
    """The number of coordinates of ``x`` with abs(x) > clip, which :func:`quantize` clips.

    The comparison is exact for every float dtype (no rounding of ``clip`` to the input's
    precision). Raises InputError for a non-vector and NonFiniteInputError for NaN or Inf.
    """
    arr = check_update(x)
    # The largest value of arr's dtype that is <= clip: for values of that dtype,
    # |x| > clip  <=>  |x| > threshold (nothing representable lies in between).
    largest = np.finfo(arr.dtype).max
    if config.clip >= float(largest):  # no finite value of this dtype exceeds the clip
        threshold = largest
    else:
        threshold = arr.dtype.type(config.clip)
        if float(threshold) > config.clip:  # rounded up
            threshold = np.nextafter(threshold, arr.dtype.type(0))
    return int(np.count_nonzero(np.abs(arr) > threshold))


def dequantize(
    total: npt.NDArray[np.unsignedinteger], weight: int, config: QuantizationConfig
) -> npt.NDArray[np.float64]:
    """Map a sum of quantized values (total weight ``weight``) to the mean in float units.

    Raises InputError unless ``total`` is a 1-D integer vector, and WeightError unless
    ``weight`` is an integer in 1..n_max * w_max (the budget bounds every total weight).
    """
    # Imported here: secagg.weighting builds on this module.
    from secagg.weighting import check_weight

    weight = check_weight(weight, config.max_clients * config.max_weight)
    values = np.asarray(total)
    if values.ndim != 1 or values.dtype.kind not in "ui":
        raise InputError("an aggregate must be a 1-D integer vector")
    mean = values.astype(np.float64) / weight
    mean *= 2 * config.clip / config.levels
    mean -= config.clip
    return mean


def quantization_error_bound(config: QuantizationConfig) -> float:
    """Worst-case abs(dequantized mean - clipped mean) per coordinate: one step, 2c/(2^b-1)."""
    return 2 * config.clip / config.levels
