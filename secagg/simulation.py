"""In-process simulation of one aggregation round: n clients and the server (and, for
Paillier, the key holder) exchanging the real encoded messages, with dropouts injected.

This is the recipe layer: :func:`run_round` is what an FL loop calls with plain numpy
updates. It quantizes, runs the chosen protocol over the binary codec and returns the
dequantized weighted mean with the round's costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from secagg.errors import ConfigurationError, InputError
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.quantize import QuantizationConfig
from secagg.result import DropStage, Protocol, RoundResult


def _as_updates(updates: Sequence[npt.ArrayLike]) -> list[npt.NDArray[np.floating]]:
    arrays = [np.asarray(u) for u in updates]
    if not arrays:
        raise InputError("no updates given")
    dim = arrays[0].shape
    if any(a.ndim != 1 or a.shape != dim for a in arrays):
        raise InputError("updates must be 1-D vectors of one length")
    return arrays


def run_round(
    protocol: Protocol | str,
    updates: Sequence[npt.ArrayLike],
    weights: Sequence[int] | None = None,
    *,
    quantization: QuantizationConfig | None = None,
    dropouts: Mapping[int, DropStage] | None = None,
    neighbours: int | None = None,
    threshold: int | None = None,
    key_bits: int = 2048,
    round_number: int = 0,
    entropy: Entropy = system_entropy,
) -> RoundResult:
    """Securely aggregate ``updates`` (float vectors) with integer ``weights``.

    Parameters
    ----------
    protocol: ``secagg``, ``secagg+``, ``paillier`` or ``paillier-naive``.
    updates: one 1-D float vector per client, all of one length; client ``i`` is
        position ``i`` (protocol id ``i + 1``).
    weights: one integer weight per client (default 1 each).
    quantization: clip, bits and budget; default clip 1.0, 16 bits, sized for
        ``len(updates)`` clients at the largest weight.
    dropouts: position -> the stage at which that client vanishes.
    neighbours, threshold: masking protocols only; defaults depend on the graph.
    key_bits: Paillier modulus size (2048 or 3072).
    round_number: bound into the session id.
    entropy: source of all randomness (``os.urandom`` by default).

    Returns the survivors' aggregate and weighted mean (:class:`RoundResult`).
    Raises AbortError when too few clients survive (nothing individual is revealed),
    InputError / NonFiniteInputError for bad updates, ConfigurationError for bad settings.
    """
    proto = Protocol(protocol)
    arrays = _as_updates(updates)
    w = [1] * len(arrays) if weights is None else [int(x) for x in weights]
    if len(w) != len(arrays):
        raise InputError("one weight per update")
    if quantization is None:
        quantization = QuantizationConfig(max_clients=len(arrays), max_weight=max(max(w), 1))
    if quantization.max_clients < len(arrays):
        raise ConfigurationError(
            f"{len(arrays)} clients exceed the budget's max_clients {quantization.max_clients}"
        )
    drops = dict(dropouts or {})
    if any(not 0 <= i < len(arrays) for i in drops):
        raise InputError("dropout positions must index the updates")
    if proto in (Protocol.SECAGG, Protocol.SECAGG_PLUS):
        from secagg.masking.simulation import run_masking_round

        return run_masking_round(
            proto,
            arrays,
            w,
            quantization,
            drops,
            neighbours=neighbours,
            threshold=threshold,
            round_number=round_number,
            entropy=entropy,
        )
    from secagg.paillier.simulation import run_paillier_round

    return run_paillier_round(
        proto,
        arrays,
        w,
        quantization,
        drops,
        key_bits=key_bits,
        round_number=round_number,
        entropy=entropy,
    )
