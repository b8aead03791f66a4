"""The cost floor of a masking round: the same keystream bytes, generated and nothing else.

Measured in the same process right after the round, so the ratio of the round's CPU
time to the floor stays meaningful on a shared, noisy machine.
"""

from __future__ import annotations

import time

import numpy as np

from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.prg import accumulate, mask_dtype


def keystream_floor(vectors: int, dim: int, bits: int, entropy: Entropy = system_entropy) -> float:
    """CPU seconds to generate ``vectors`` keystreams of ``dim`` elements of Z_{2^bits}.

    Uses the protocol's own chunked AES-CTR path (with the additions into one
    accumulator, which the protocol cannot avoid either).
    """
    acc = np.zeros(dim, dtype=mask_dtype(bits))
    terms = [(entropy(16), b"floor", 1) for _ in range(vectors)]
    start = time.thread_time()
    accumulate(acc, terms)
    return time.thread_time() - start
