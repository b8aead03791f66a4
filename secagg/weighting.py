"""The protected vector layout for weighted averaging.

A client with integer weight w (its sample count, say) and quantized update q sends
the vector [w*q_1, ..., w*q_d, w] through the masking or Paillier protocol, so the
server learns only sum(w) and sum(w*q), never one client's weight. The layout is
defined here and only here: :func:`encode_weighted` builds it and
:func:`decode_weighted` splits the aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.errors import InputError
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.quantize import QuantizationConfig, dequantize, quantize

WEIGHT_SLOTS = 1  # the total weight rides in the last element


def protected_length(dim: int) -> int:
    """Length of the protected vector for a ``dim``-coordinate update."""
    return dim + WEIGHT_SLOTS


def encode_weighted(
    x: npt.ArrayLike,
    weight: int,
    config: QuantizationConfig,
    entropy: Entropy = system_entropy,
) -> npt.NDArray[np.unsignedinteger]:
    """Quantize ``x`` and lay out [w*q, w] in Z_{2^k}.

    Raises InputError unless 1 <= weight <= config.max_weight (an integer), and
    NonFiniteInputError for NaN or Inf in ``x``.
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, np.integer)):
        raise InputError(f"weight must be an integer, got {type(weight).__name__}")
    if not 1 <= weight <= config.max_weight:
        raise InputError(f"weight {weight} outside 1..{config.max_weight}")
    q = quantize(x, config, entropy)
    out = np.empty(protected_length(q.size), dtype=q.dtype)
    np.multiply(q, q.dtype.type(weight), out=out[:-WEIGHT_SLOTS])
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
    """Split an aggregate vector into (sum of w*q, sum of w)."""
    if aggregate.ndim != 1 or aggregate.size < 1 + WEIGHT_SLOTS:
        raise InputError("aggregate too short to hold values and a weight")
    return aggregate[:-WEIGHT_SLOTS], int(aggregate[-1])


def decode_weighted(
    aggregate: npt.NDArray[np.unsignedinteger], config: QuantizationConfig
) -> WeightedMean:
    """Dequantize an aggregate into the weighted mean. Raises InputError if sum(w) = 0."""
    values, total_weight = split_weighted(aggregate)
    return WeightedMean(mean=dequantize(values, total_weight, config), total_weight=total_weight)
