"""The protected vector layout for weighted averaging.

A client with integer weight w (its sample count, say) and quantized update q sends
the vector [w*q_1, ..., w*q_d, w] through the masking or Paillier protocol, so the
server learns only sum(w) and sum(w*q), never one client's weight. The layout is
defined here and only here: :func:`encode_weighted` builds it and
:func:`decode_weighted` splits the aggregate.

A weight is a Python or numpy integer in 1..w_max, checked by :func:`check_weight`
(:func:`check_weights` for a list): a float, boolean or oversized weight would
silently change or overflow the weighted sum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.errors import InputError, WeightError
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.prg import mask_dtype
from secagg.quantize import QuantizationConfig, dequantize, float_vector, quantize
from secagg.validation import require_int, short

WEIGHT_SLOTS = 1  # the total weight rides in the last element


def protected_length(dim: int) -> int:
    """Length of the protected vector for a ``dim``-coordinate update."""
    return dim + WEIGHT_SLOTS


def _describe(value: object) -> str:
    return f"{type(value).__name__} {short(value)}"


def _check_max_weight(max_weight: object) -> int | None:
    return None if max_weight is None else require_int("max_weight", max_weight, 1)


def _weight(weight: object, max_weight: int | None, where: str) -> int:
    value = require_int(where, weight, 1, None, WeightError)
    if max_weight is not None and value > max_weight:
        raise WeightError(f"{where} is {value}, above the maximum weight {max_weight}")
    return value


def check_weight(weight: object, max_weight: int | None = None) -> int:
    """``weight`` as a Python int, if it is a valid client weight.

    Accepts Python ints and numpy integer scalars in 1..``max_weight`` (no upper bound
    when ``max_weight`` is None). Refuses bool, every float (even 2.0: a float weight
    is usually a fraction that truncation would silently change), NaN, Inf, str, None
    and out-of-range values with WeightError naming the value. Raises
    ConfigurationError if ``max_weight`` itself is not an integer >= 1.
    """
    return _weight(weight, _check_max_weight(max_weight), "weight")


def check_weights(weights: Iterable[object], max_weight: int | None = None) -> list[int]:
    """Every weight of ``weights`` checked as by :func:`check_weight`, as Python ints.

    The WeightError names the position of the first bad weight and its value; a
    ``weights`` that is not an iterable of weights (a str, bytes, a number) is refused
    as a whole.
    """
    bound = _check_max_weight(max_weight)
    if isinstance(weights, (str, bytes)):
        raise WeightError(f"weights must be a sequence of integers, got {_describe(weights)}")
    try:
        items = iter(weights)
    except TypeError:
        raise WeightError(
            f"weights must be a sequence of integers, got {_describe(weights)}"
        ) from None
    return [_weight(w, bound, f"weight at position {i}") for i, w in enumerate(items)]


def encode_weighted(
    x: npt.ArrayLike,
    weight: int,
    config: QuantizationConfig,
    entropy: Entropy = system_entropy,
) -> npt.NDArray[np.unsignedinteger]:
    """Quantize ``x`` and lay out [w*q, w] in Z_{2^k}.

    Raises WeightError unless ``weight`` is an integer in 1..config.max_weight (see
    :func:`check_weight`), and NonFiniteInputError for NaN or Inf in ``x``.
    """
    weight = check_weight(weight, config.max_weight)
    arr = float_vector(x)  # its size now; quantize checks its values, once
    out = np.empty(protected_length(arr.size), dtype=mask_dtype(config.k))
    q = quantize(arr, config, entropy, out=out[:-WEIGHT_SLOTS])
    if weight != 1:
        q *= q.dtype.type(weight)  # w * q <= w_max (2^b - 1) < 2^k: no wrap-around
    out[-1] = weight
    return out


@dataclass(frozen=True)
class WeightedMean:
    """The dequantized weighted mean of the survivors and their total weight."""

    mean: npt.NDArray[np.float64]
    total_weight: int


def split_weighted(
    aggregate: npt.NDArray[np.unsignedinteger],
) -> tuple[npt.NDArray[np.unsignedinteger], int]:
    """Split an aggregate vector into (sum of w*q, sum of w).

    Raises InputError unless ``aggregate`` is a 1-D integer array holding at least one
    value and the weight.
    """
    if not isinstance(aggregate, np.ndarray) or aggregate.dtype.kind not in "ui":
        raise InputError("an aggregate must be a 1-D integer array")
    if aggregate.ndim != 1 or aggregate.size < 1 + WEIGHT_SLOTS:
        raise InputError("aggregate too short to hold values and a weight")
    return aggregate[:-WEIGHT_SLOTS], int(aggregate[-1])


def decode_weighted(
    aggregate: npt.NDArray[np.unsignedinteger], config: QuantizationConfig
) -> WeightedMean:
    """Dequantize an aggregate into the weighted mean.

    Raises InputError for a malformed aggregate or one whose sum of w*q exceeds
    sum(w) * (2^b - 1) (no honest cohort produces it: some client protected a value
    outside its budget), and WeightError (an InputError) if the total weight sum(w) is
    0 or above n_max * w_max.
    """
    values, total_weight = split_weighted(aggregate)
    check_weight(total_weight, config.max_clients * config.max_weight)
    if values.size and int(values.max()) > total_weight * config.levels:
        raise InputError(
            f"a value of the sum exceeds total weight {total_weight} x {config.levels}: "
            f"a client protected a value outside its budget"
        )
    return WeightedMean(mean=dequantize(values, total_weight, config), total_weight=total_weight)


def check_protected(
    protected: object, length: int, quantization: QuantizationConfig
) -> npt.NDArray[np.unsignedinteger]:
    """A client's protected vector, checked before any protocol uses it, as the
    modulus's dtype (no copy when it already is).

    Raises InputError unless it is ``length`` unsigned integers each at most w_max
    (2^b - 1) (:attr:`QuantizationConfig.max_input`), so that the sum of n_max of them
    never wraps around mod 2^k (or spills into the next Paillier slot).
    """
    try:
        vector = np.asarray(protected)
    except (TypeError, ValueError):
        raise InputError("the protected vector must be an array of unsigned integers") from None
    if vector.ndim != 1 or vector.size != length or vector.dtype.kind != "u":
        raise InputError(
            f"the protected vector must be {length} unsigned integers (the update and its "
            f"weight), got shape {vector.shape} of {vector.dtype}"
        )
    if vector.size and int(vector.max()) > quantization.max_input:
        raise InputError(
            f"protected element {int(vector.max())} exceeds w_max (2^b - 1) = "
            f"{quantization.max_input}: outside the quantization budget"
        )
    return vector.astype(mask_dtype(quantization.k), copy=False)
